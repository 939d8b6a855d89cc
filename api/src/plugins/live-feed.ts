// WebSocket live feed at /api/v1/live, filtered on the server
// (docs/live-protocol.md). The live bus hands every accepted position to onLive, which keeps
// the latest-position table and routes the position through the subscription
// index to the clients that want it; it never awaits a client. Clients are
// flushed at the end of the event-loop turn (max_hz 0; in a turn longer than
// maxWakeMs, once their first position is that old) or on their tick (max_hz),
// so every message is one batch serialized once, from positions serialized
// once for all clients.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { LiveMessage, Position } from '../../../schemas/live.js'
import type { LiveSource } from '../../../lib/live-bus.js'
import { parseSubscribe } from '../live/subscription.js'
import { SubscriptionIndex } from '../live/subscription-index.js'
import { LiveClient, DEFAULT_LIMITS, CLOSE_GOING_AWAY, type LiveLimits, type FeedContext } from '../live/live-client.js'
import { createLiveMetrics, type LiveMetrics } from '../live/live-metrics.js'
import { LatestPositions } from '../live/latest-positions.js'
import { startTicker } from '../live/ticker.js'
import { startHeartbeat } from '../live/heartbeat.js'
import { createUpgradeAuth, type TokenCheck } from '../live/upgrade-auth.js'
import { turnBatch } from '../../../lib/turn-batch.js'

export { CLOSE_TOO_SLOW, CLOSE_GOING_AWAY, type LiveLimits } from '../live/live-client.js'
export type { TokenCheck } from '../live/upgrade-auth.js'

/** The subprotocol a browser offers beside `bearer.<key>`; the server selects it, never the key. */
export const LIVE_SUBPROTOCOL = 'fleetgate.v1'

export interface LiveFeedOptions {
  source: LiveSource
  /**
   * When given, a client must present an API key (header, subprotocol or
   * ?token=): true lets it in, false refuses it with 401 (unknown key),
   * 'forbidden' with 403 (a known key without the role the feed needs).
   */
  verifyToken?: (token: string) => TokenCheck | Promise<TokenCheck>
  limits?: Partial<LiveLimits>
  /** Where the feed counts (default: a registry of its own); `fastify.liveMetrics` either way. */
  metrics?: LiveMetrics
  /** Route of the feed (default `/api/v1/live`). */
  path?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    liveMetrics: LiveMetrics
  }
}

export default fp<LiveFeedOptions>(async function liveFeed (fastify, opts) {
  const limits: LiveLimits = { ...DEFAULT_LIMITS, ...opts.limits }
  const latest = new LatestPositions()
  const clients = new Set<LiveClient>()
  const index = new SubscriptionIndex<LiveClient>()
  const metrics = opts.metrics ?? createLiveMetrics()
  fastify.decorate('liveMetrics', metrics)

  const jsonCache = new WeakMap<Position, string>()
  function json (p: Position): string {
    let s = jsonCache.get(p)
    if (s === undefined) jsonCache.set(p, (s = JSON.stringify(p)))
    return s
  }

  const awake = new Set<LiveClient>()
  function flushAwake (): void {
    const now = Date.now()
    for (const c of awake) c.flush(now)
    awake.clear()
  }
  const awakeBatch = turnBatch(flushAwake, limits.maxWakeMs)
  /** A client leaves the feed: its socket closed, or the feed let go of it (a close frame on its way). */
  function forget (client: LiveClient): void {
    if (!clients.delete(client)) return
    metrics.clients.dec()
    index.delete(client)
    metrics.subscriptions.set(index.size)
    awake.delete(client)
  }
  const ctx: FeedContext = {
    limits,
    metrics,
    json,
    snapshot: sub => latest.snapshot(sub),
    wake (c) {
      if (awake.size === 0) awakeBatch.opened()
      awake.add(c)
    },
    release: c => { forget(c) }
  }

  function onLive (msg: LiveMessage): void {
    route(msg)
    // a long turn does not hold back what arrived at its start
    if (awake.size > 0) awakeBatch.cutIfOld()
  }

  function route (msg: LiveMessage): void {
    if (msg.kind === 'telemetry') {
      for (const p of msg.items) {
        latest.keep(p)
        if (index.size > 0) index.forEachMatch(p.vehicle_id, p.lat, p.lon, c => c.offer(p))
      }
    } else if (msg.kind === 'events') {
      for (const e of msg.items) {
        // an event without a place is where its vehicle was last seen
        const at = e.lat !== undefined && e.lon !== undefined ? e : latest.get(e.vehicle_id)
        index.forEachMatch(e.vehicle_id, at?.lat, at?.lon, c => c.offerEvent(e))
      }
    } else if (msg.kind === 'alert') {
      // where the reading that raised it was
      for (const a of msg.items) index.forEachMatch(a.vehicle_id, a.lat, a.lon, c => c.offerAlert(a))
    } else {
      for (const s of msg.items) {
        // online or offline where the vehicle was last seen
        const at = latest.get(s.vehicle_id)
        index.forEachMatch(s.vehicle_id, at?.lat, at?.lon, c => c.offerStatus(s))
      }
    }
  }

  // Subscribe before seeding, so nothing that arrives meanwhile is missed;
  // the seed only fills in vehicles the stream has not shown newer data for.
  const unsubscribe = opts.source.subscribe(onLive)
  try {
    await latest.seed(fastify.questdb)
  } catch (err) {
    fastify.log.warn({ err }, 'latest positions not seeded')
  }

  const stopTicker = startTicker(clients, metrics)
  const stopHeartbeat = startHeartbeat(clients, limits.heartbeatMs)

  let shuttingDown = false
  // Added before @fastify/websocket registers its own preClose (which closes
  // without a code), so clients learn why they are closed.
  fastify.addHook('preClose', async () => {
    shuttingDown = true
    unsubscribe()
    stopTicker()
    stopHeartbeat()
    for (const c of clients) c.close(CLOSE_GOING_AWAY, 'server shutting down', 'shutdown')
    const deadline = Date.now() + Math.min(limits.closeGraceMs, 2000)
    while (clients.size > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    for (const c of clients) c.ws.terminate()
  })

  await fastify.register(websocket, {
    options: {
      maxPayload: 1024 * 1024,
      // never echo a `bearer.<key>` subprotocol back [RFC 6455 4.2.2]
      handleProtocols: (protocols: Set<string>) => protocols.has(LIVE_SUBPROTOCOL) ? LIVE_SUBPROTOCOL : false
    }
  })

  const authHook = opts.verifyToken === undefined ? undefined : createUpgradeAuth(opts.verifyToken, metrics)

  fastify.get(opts.path ?? '/api/v1/live', { websocket: true, ...(authHook ? { preValidation: authHook } : {}) }, (socket, req) => {
    if (shuttingDown) { socket.close(CLOSE_GOING_AWAY, 'server shutting down'); return }
    const client = new LiveClient(socket, ctx, req.raw.socket)
    clients.add(client)
    metrics.clients.inc()
    socket.on('pong', () => { client.alive = true })
    socket.on('close', () => {
      client.closed = true
      forget(client)
    })
    socket.on('message', (data, isBinary) => {
      client.alive = true
      let msg: unknown
      try { msg = JSON.parse(isBinary ? '' : data.toString()) } catch { msg = undefined }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
        client.reply({ type: 'error', detail: 'messages must be JSON objects (text frames)' })
        return
      }
      const m = msg as Record<string, unknown>
      if (m.type === 'subscribe') {
        const sub = parseSubscribe(m)
        if (typeof sub === 'string') { client.reply({ type: 'error', detail: sub }); return }
        index.set(client, sub)
        metrics.subscriptions.set(index.size)
        client.subscribe(sub)
      } else if (m.type === 'unsubscribe') {
        index.delete(client)
        metrics.subscriptions.set(index.size)
        client.unsubscribe()
        client.reply({ type: 'unsubscribed' })
      } else {
        client.reply({ type: 'error', detail: 'type must be subscribe or unsubscribe' })
      }
    })
  })
}, { name: 'live-feed', dependencies: ['questdb'] })
