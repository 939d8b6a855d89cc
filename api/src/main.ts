// The api process: builds Fastify around app.ts and listens. Alone, it finds
// QuestDB from config (or the gateway's managed instance), follows the live
// stream through the gateway's broker and writes HTTP-ingested readings
// through the gateway's ingest path with its own ILP writer (createIngest);
// beside the gateway it uses the gateway's pipeline.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import { nodeId, type Config } from '../../schemas/config.js'
import type { LiveSource } from '../../lib/live-bus.js'
import app, { type AppOptions } from './app.js'
import { createMqttLiveSource } from './live/live-source.js'
import { openApiKeyStore } from './api-keys.js'
import { createApiMetrics } from './plugins/metrics.js'
import {
  createIngest, createRedisBus, ilpProtocolVersion, internalToken, openRegistryStream, questdbAddressFile, registryPath,
  type Ingest, type Pipeline, type QuestDbAddress, type RedisBus, type RegistryStream
} from '../../gateway/src/index.js'
import { apiKeysFile } from './api-keys.js'
import { geofencesFile, openGeofenceStore } from '../../gateway/src/index.js'
import { webhooksFile } from '../../gateway/src/index.js'

export interface ApiDeps {
  questdb?: QuestDbAddress
  live?: LiveSource
  brokerReady?: () => boolean
  /** The gateway's readiness, when in the same process. */
  gatewayReadiness?: AppOptions['gatewayReadiness']
  liveFeed?: AppOptions['liveFeed']
  /** The gateway's pipeline, when in the same process. */
  pipeline?: Pipeline
  /** Further metrics registries for /metrics (the gateway's). */
  registries?: Registry[]
  /** The gateway workers' metrics, when the gateway runs as workers beside this api. */
  remoteMetrics?: AppOptions['remoteMetrics']
}

/**
 * Node's http server options from config. Node checks the headers and request
 * timeouts only every connectionsCheckingInterval (30 s by default), so a
 * slow-headers client would keep its socket up to that much longer.
 */
export function httpTimeouts (config: Config): { headersTimeout: number, requestTimeout: number, keepAliveTimeout: number, connectionsCheckingInterval: number } {
  return {
    headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: Math.min(1000, config.HTTP_HEADERS_TIMEOUT_MS)
  }
}

export interface RunningApi {
  fastify: FastifyInstance
  /** A URL to connect to (127.0.0.1 for a wildcard bind). */
  url: string
  /** Every address actually bound, for logs. */
  bound: string[]
  close: () => Promise<void>
}

function findQuestDb (config: Config): QuestDbAddress {
  if (config.QUESTDB_HTTP_URL && config.QUESTDB_PG_URL) return { httpUrl: config.QUESTDB_HTTP_URL, pgUrl: config.QUESTDB_PG_URL }
  const file = questdbAddressFile(config)
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as QuestDbAddress
  throw new Error(`no QuestDB: set QUESTDB_HTTP_URL and QUESTDB_PG_URL, or start the gateway first with the same DATA_DIR (${file} not found)`)
}

export async function runApi (config: Config, log: Logger, deps: ApiDeps = {}): Promise<RunningApi> {
  const questdb = deps.questdb ?? findQuestDb(config)
  let live = deps.live
  let brokerReady = deps.brokerReady
  let bus: RedisBus | null = null
  const busRegistry = new Registry()
  if (!live && config.REDIS_URL) {
    // every gateway node's live batches, from Redis
    const node = nodeId(config)
    busRegistry.setDefaultLabels({ node })
    bus = createRedisBus({ url: config.REDIS_URL, node, log: log.child({ part: 'bus' }), follow: { live: true }, registry: busRegistry })
    await bus.ready(2000)
    live = bus.live
  } else if (!live) {
    const url = config.GATEWAY_MQTT_URL ?? `mqtt://127.0.0.1:${config.MQTT_PORT}`
    const source = createMqttLiveSource(url, internalToken(config), log.child({ part: 'live-source' }))
    live = source
    brokerReady = source.connected
  }
  // alone, the api's own ingest path (the gateway's, to QuestDB without a spool): durable = QuestDB answered 2xx
  let own: Ingest | null = null
  if (!deps.pipeline) {
    // the api may start while QuestDB is down: protocol 1 is understood by every QuestDB
    const version = await ilpProtocolVersion(questdb.httpUrl, config.ILP_PROTOCOL_VERSION).catch((err: unknown) => {
      log.warn({ err }, 'questdb /settings not reachable, ilp protocol 1')
      return 1 as const
    })
    own = createIngest(config, { log: log.child({ part: 'api-ilp-writer' }), questdbHttpUrl: questdb.httpUrl, protocolVersion: version, origin: `${nodeId(config)}/api` })
  }
  const pipeline = deps.pipeline ?? (own as NonNullable<typeof own>).pipeline
  const apiKeys = openApiKeyStore(config.DATA_DIR, config.API_KEYS)
  const geofences = openGeofenceStore(config.DATA_DIR, { maxVertices: config.GEOFENCE_MAX_VERTICES })
  geofences.watch()
  // keys and device tokens made or revoked here (CLI, admin API) reach every node; keys made elsewhere apply here
  const registryStream: RegistryStream | null = config.REDIS_URL
    ? openRegistryStream({
      url: config.REDIS_URL,
      node: nodeId(config),
      log: log.child({ part: 'registry-stream' }),
      forward: [{ kind: 'device', file: registryPath(config.DATA_DIR) }, { kind: 'apikey', file: apiKeysFile(config.DATA_DIR) }, { kind: 'geofence', file: geofencesFile(config.DATA_DIR) }, { kind: 'webhook', file: webhooksFile(config.DATA_DIR) }],
      apply: { apikey: line => apiKeys.apply(line), geofence: line => { geofences.apply(line) } },
      registry: busRegistry
    })
    : null
  const timeouts = httpTimeouts(config)
  const https = config.TLS_CERT_FILE && config.TLS_KEY_FILE ? { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE), ...timeouts } : null
  const fastify = Fastify({
    loggerInstance: log.child({ part: 'api' }) as unknown as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    // app.ts logs one redacted line per request instead (through the log
    // controller: the top-level disableRequestLogging is deprecated, FSTDEP023)
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    // an unknown query parameter is an error, not silently dropped (a typo like `lmit` must not pass)
    ajv: { customOptions: { removeAdditional: false } },
    // Fastify sets these two on the server after creating it (its defaults: no
    // request timeout, 72 s keep-alive); the headers timeout only through `http`
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: timeouts.keepAliveTimeout,
    ...(https ? { https } : { http: timeouts })
  }) as unknown as FastifyInstance
  const registered = fastify.register(app, {
    pgUrl: questdb.pgUrl,
    questdbHttpUrl: questdb.httpUrl,
    live,
    ...(brokerReady ? { brokerReady } : {}),
    ...(deps.gatewayReadiness ? { gatewayReadiness: deps.gatewayReadiness } : {}),
    ...(bus ? { degraded: bus.degraded } : {}),
    pipeline,
    apiKeys,
    geofences,
    maxGeofenceVertices: config.GEOFENCE_MAX_VERTICES,
    dataDir: config.DATA_DIR,
    ...(config.API_KEYS ? { apiKeysEnv: config.API_KEYS } : {}),
    auth: config.API_AUTH,
    rateLimit: config.API_RATE_LIMIT,
    ...(config.CORS_ORIGINS ? { corsOrigins: config.CORS_ORIGINS } : {}),
    onlineWindowS: config.ONLINE_WINDOW_S,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    metrics: createApiMetrics({ defaults: true }),
    registries: [...(deps.registries ?? []), ...(own ? [own.metrics.registry] : []), ...(bus ? [busRegistry] : [])],
    ...(deps.remoteMetrics ? { remoteMetrics: deps.remoteMetrics } : {}),
    ...(deps.liveFeed ? { liveFeed: deps.liveFeed } : {}),
    map: { tileUrl: config.MAP_TILE_URL, tileAttribution: config.MAP_TILE_ATTRIBUTION },
    trips: { start: config.TRIP_START, speedKmh: config.TRIP_SPEED_KMH, minStopS: config.TRIP_MIN_STOP_S, minTripS: config.TRIP_MIN_S, gapS: config.TRIP_GAP_S, bucketS: config.TRIP_BUCKET_S }
  })
  let url: string
  try {
    await registered
    url = await fastify.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT })
  } catch (err) {
    // what was opened before the failure is closed here, not leaked
    await fastify.close().catch(() => {})
    await own?.close(0).catch(() => {})
    if (!deps.live) await live.close?.()
    await registryStream?.close()
    await bus?.close()
    geofences.close()
    throw err
  }
  if (config.API_AUTH === 'required' && apiKeys.size() === 0) {
    log.warn({ dataDir: config.DATA_DIR }, 'no API keys yet: make one with `npx fleetgate apikey --role admin` (same DATA_DIR), or set API_AUTH=off for local development')
  }
  const source = live
  const scheme = https ? 'https' : 'http'
  const bound = fastify.addresses().map(a => typeof a === 'string' ? a : `${scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`)
  log.info({ http: bound }, 'api listening')
  return {
    fastify,
    url: url.replace('0.0.0.0', '127.0.0.1'),
    bound,
    async close () {
      await fastify.close()
      await own?.close(config.SHUTDOWN_TIMEOUT_MS)
      if (!deps.live) await source.close?.()
      await registryStream?.close()
      await bus?.close()
      geofences.close()
    }
  }
}
