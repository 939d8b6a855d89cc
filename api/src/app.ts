// The api as one Fastify plugin; it never listens (main.ts does).
import type { FastifyPluginAsync } from 'fastify'
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { Registry } from 'prom-client'
import type { LiveSource } from '../../lib/live-bus.js'
import type { Pipeline } from '../../gateway/src/index.js'
import { allows, type ApiKeyStore } from './api-keys.js'
import { ref } from './api-schemas.js'
import questdb from './plugins/questdb.js'
import errors from './plugins/errors.js'
import { API_ERR_RATE_LIMITED } from './errors.js'
import openapi from './plugins/openapi.js'
import auth from './plugins/auth.js'
import finiteQuery from './plugins/finite-query.js'
import metrics, { type ApiMetrics, type MetricsOptions } from './plugins/metrics.js'
import liveFeed, { type LiveFeedOptions, type TokenCheck } from './plugins/live-feed.js'
import vehicles from './routes/vehicles.js'
import readings from './routes/readings.js'
import track from './routes/track.js'
import events from './routes/events.js'
import positions from './routes/positions.js'
import stats from './routes/stats.js'
import rejections from './routes/rejections.js'
import devices from './routes/devices.js'
import apiKeyRoutes from './routes/api-keys.js'
import geofenceRoutes from './routes/geofences.js'
import alertRoutes from './routes/alerts.js'
import type { GeofenceStore } from '../../gateway/src/index.js'
import trips from './routes/trips.js'
import reports from './routes/reports.js'
import type { TripOptions } from './trips/trip-query.js'
import webhookRoutes from './routes/webhooks.js'
import web, { type WebOptions } from './plugins/web.js'
import { isReady } from '../../lib/questdb/managed.js'
import type { Readiness } from '../../gateway/src/index.js'

export interface AppOptions {
  pgUrl: string
  questdbHttpUrl: string
  live: LiveSource
  /** Whether the broker side is up (in one process: the gateway's broker). */
  brokerReady?: () => boolean
  /** In one process with the gateway: its own checks and what is degraded (QuestDB tables, ILP protocol). */
  gatewayReadiness?: () => Readiness
  /** Further degraded parts that leave the api ready (the Redis bus). */
  degraded?: () => string[]
  /** Live-feed settings beside its source: bounds, metrics; a verifyToken here replaces the API-key check. */
  liveFeed?: Omit<LiveFeedOptions, 'source'>
  /** Where POST /vehicles/:id/readings goes: the gateway's pipeline, or the api's own. */
  pipeline: Pipeline
  apiKeys: ApiKeyStore
  /** The geofences (admin API writes to DATA_DIR's file, reads from this store). */
  geofences: GeofenceStore
  /** GEOFENCE_MAX_VERTICES */
  maxGeofenceVertices?: number
  /** DATA_DIR: the admin routes write its device registry and API key file. */
  dataDir: string
  /** API_KEYS, for the admin listing. */
  apiKeysEnv?: string
  /** API_AUTH: off only for local development. */
  auth?: 'required' | 'off'
  /** API_RATE_LIMIT: requests per minute per key; 0 disables. */
  rateLimit?: number
  /** CORS_ORIGINS: comma-separated origins or *; unset: no CORS. */
  corsOrigins?: string
  /** ONLINE_WINDOW_S */
  onlineWindowS?: number
  /** MAX_PAYLOAD_BYTES: body limit of HTTP ingestion. */
  maxPayloadBytes?: number
  metrics?: ApiMetrics
  /** Registries served on /metrics beside the api's own (in one process: the gateway's). */
  registries?: Registry[]
  /** Metrics of the gateway workers, summed into /metrics. */
  remoteMetrics?: MetricsOptions['remote']
  /** The map page at / (tile server and attribution); without it the page uses the graticule. */
  map?: WebOptions
  /** TRIP_* settings of trips, stops and daily reports; default: the config schema's defaults. */
  trips?: TripOptions
}

export const DEFAULT_TRIPS: TripOptions = { start: 'speed', speedKmh: 5, minStopS: 300, minTripS: 300, gapS: 3600, bucketS: 60 }

// A same-origin map page draws on canvas (data: and blob: images, workers from
// blob:) and talks to the live feed on the same origin; its base-map tiles
// come from the configured tile server. Nothing else is allowed.
export function cspDirectives (tileUrl?: string): Record<string, string[]> {
  const img = ["'self'", 'data:', 'blob:']
  if (tileUrl && tileUrl !== 'none') {
    // {s} subdomains (a.tile..., b.tile...) become a host wildcard
    const m = /^(https?):\/\/([^/]+)/.exec(tileUrl)
    if (m) img.push(`${m[1] as string}://${(m[2] as string).replace(/\{s\}/g, '*')}`)
  }
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: img,
    connectSrc: ["'self'"],
    workerSrc: ["'self'", 'blob:'],
    fontSrc: ["'self'", 'data:'],
    objectSrc: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"]
  }
}

/** A url fit for a log line: query tokens (the live feed accepts one) are redacted. */
export function redactUrl (url: string): string {
  return url.replace(/([?&](?:token|access_token|api_key|key)=)[^&]*/gi, '$1[redacted]')
}

const health = { 200: ref('health'), 503: ref('health') }

/** /readyz's `degraded`: the gateway's own lines, else one per failed check. */
export function degradedLines (checks: Record<string, boolean>, gateway?: Readiness): string[] {
  const lines = [...gateway?.degraded ?? []]
  if (!checks.questdb && !lines.some(l => l.startsWith('questdb unreachable'))) lines.unshift('questdb unreachable: history requests answer 503')
  if (!checks.broker) lines.push('broker not up: no live stream')
  return lines
}

const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  await fastify.register(errors)
  // one line per request, in place of Fastify's two (main.ts turns those off):
  // the route template, a redacted url and the key id, never headers or bodies
  fastify.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, route: request.routeOptions.url, url: redactUrl(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, key: request.apiKey?.id }, 'request completed')
  })
  await fastify.register(helmet, { contentSecurityPolicy: { directives: cspDirectives(opts.map?.tileUrl) } })
  if (opts.corsOrigins) {
    const list = opts.corsOrigins.split(',').map(s => s.trim()).filter(Boolean)
    await fastify.register(cors, { origin: list.includes('*') ? true : list, allowedHeaders: ['authorization', 'content-type', 'x-request-id'], exposedHeaders: ['retry-after', 'x-request-id'], maxAge: 600 })
  }
  await fastify.register(openapi)
  await fastify.register(metrics, { ...(opts.metrics ? { metrics: opts.metrics } : {}), registries: opts.registries ?? [], ...(opts.remoteMetrics ? { remote: opts.remoteMetrics } : {}) })
  await fastify.register(auth, { mode: opts.auth ?? 'required', store: opts.apiKeys })
  await fastify.register(questdb, { pgUrl: opts.pgUrl })
  await fastify.register(finiteQuery)
  let shuttingDown = false
  fastify.addHook('preClose', async () => { shuttingDown = true })

  fastify.get('/healthz', { schema: { summary: 'Liveness', tags: ['ops'], response: health } }, async () => ({ status: 'ok' }))
  fastify.get('/readyz', { schema: { summary: 'Readiness: QuestDB and the broker; 503 while shutting down', tags: ['ops'], response: health } }, async (_req, reply) => {
    const gateway = opts.gatewayReadiness?.()
    const checks: Record<string, boolean> = {
      questdb: !shuttingDown && await isReady(opts.questdbHttpUrl, opts.pgUrl),
      broker: !shuttingDown && (opts.brokerReady?.() ?? true),
      ...gateway?.checks
    }
    const degraded = [...degradedLines(checks, gateway), ...opts.degraded?.() ?? []]
    const ok = !shuttingDown && Object.values(checks).every(Boolean)
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : shuttingDown ? 'shutting_down' : 'not_ready', checks, ...(degraded.length > 0 ? { degraded } : {}) })
  })

  // at this level, not under the prefix: fastify.liveMetrics is for /metrics
  // the feed shows every vehicle's positions: the same read role as GET /positions
  const apiKeyCheck = opts.auth === 'off'
    ? {}
    : {
        verifyToken: (token: string): TokenCheck => {
          const key = fastify.verifyApiKey(token)
          return key === null ? false : allows(key.role, 'read') ? true : 'forbidden'
        }
      }
  await fastify.register(liveFeed, { ...apiKeyCheck, ...opts.liveFeed, source: opts.live })
  fastify.metrics.include(fastify.liveMetrics.registry)
  const wss = (fastify as unknown as { websocketServer?: { clients: Set<unknown> } }).websocketServer
  if (wss) fastify.metrics.countWsClientsWith(() => wss.clients.size)
  await fastify.register(async (v1) => {
    if ((opts.rateLimit ?? 0) > 0) {
      await v1.register(rateLimit, {
        max: opts.rateLimit ?? 0,
        timeWindow: 60000,
        // after auth (onRequest), so that the budget is the key's, not the address's
        hook: 'preHandler',
        keyGenerator: request => request.apiKey ? `key:${request.apiKey.id}` : `ip:${request.ip}`,
        errorResponseBuilder: (_request, ctx) => new API_ERR_RATE_LIMITED(ctx.max, ctx.after)
      })
    }
    const onlineWindowS = opts.onlineWindowS ?? 300
    await v1.register(vehicles, { onlineWindowS })
    await v1.register(readings, { pipeline: opts.pipeline, maxPayloadBytes: opts.maxPayloadBytes ?? 262144 })
    await v1.register(track)
    await v1.register(events)
    await v1.register(positions)
    await v1.register(stats, { onlineWindowS })
    await v1.register(rejections)
    await v1.register(trips, opts.trips ?? DEFAULT_TRIPS)
    await v1.register(reports, opts.trips ?? DEFAULT_TRIPS)
    const admin = { dataDir: opts.dataDir, authMode: opts.auth ?? 'required' } as const
    await v1.register(devices, admin)
    await v1.register(apiKeyRoutes, { ...admin, ...(opts.apiKeysEnv ? { apiKeysEnv: opts.apiKeysEnv } : {}) })
    await v1.register(geofenceRoutes, { dataDir: opts.dataDir, store: opts.geofences, maxVertices: opts.maxGeofenceVertices ?? 10000 })
    await v1.register(alertRoutes)
    await v1.register(webhookRoutes, admin)
  }, { prefix: '/api/v1' })
  await fastify.register(web, opts.map ?? { tileUrl: 'none', tileAttribution: '' })
}

export default app
