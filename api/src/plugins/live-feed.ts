// WebSocket live feed at /api/v1/live, filtered on the server (README, "Live
// feed"). The live bus hands every accepted position to onLive, which keeps
// the latest-position table and routes the position through the subscription
// index to the clients that want it; it never awaits a client. Clients are
// flushed at the end of the event-loop turn (max_hz 0; in a turn longer than
// maxWakeMs, once their first position is that old) or on their tick (max_hz),
// so every message is one batch serialized once, from positions serialized
// once for all clients.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { FastifyRequest } from 'fastify'
import type { LiveEvent, LiveMessage, LiveSource, Position } from '../../../schemas/live.js'
import { LATEST_SQL, rowToPosition } from '../readings-sql.js'
import { parseSubscribe, matches, type Subscription } from '../live/subscription.js'
import { SubscriptionIndex } from '../live/subscription-index.js'
import { LiveClient, DEFAULT_LIMITS, CLOSE_GOING_AWAY, type LiveLimits, type FeedContext } from '../live/live-client.js'
import { createLiveMetrics, type LiveMetrics } from '../live/live-metrics.js'
import { turnBatch } from '../../../schemas/turn-batch.js'

export { inBox, type BBox } from '../live/subscription.js'
export { CLOSE_TOO_SLOW, CLOSE_GOING_AWAY, type LiveLimits } from '../live/live-client.js'

/** The subprotocol a browser offers beside `bearer.<key>`; the server selects it, never the key. */
export const LIVE_SUBPROTOCOL = 'fleetgate.v1'
const BEARER_PROTOCOL_PREFIX = 'bearer.'
const TICK_MS = 20

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

export type TokenCheck = boolean | 'forbidden'

declare module 'fastify' {
  interface FastifyInstance {
    latestPositions: ReadonlyMap<string, Position>
    liveMetrics: LiveMetrics
  }
}

/** The API key of an upgrade request: Authorization header, `bearer.<key>` subprotocol, or `?token=`. */
export function tokenOf (req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization
  if (auth !== undefined && /^bearer /i.test(auth)) return auth.slice(7).trim()
  const protocols = req.headers['sec-websocket-protocol']
  if (typeof protocols === 'string') {
    for (const p of protocols.split(',')) {
      const s = p.trim()
      if (s.startsWith(BEARER_PROTOCOL_PREFIX)) return s.slice(BEARER_PROTOCOL_PREFIX.length)
    }
  }
  const q = (req.query as Record<string, unknown> | undefined)?.token
  return typeof q === 'string' && q.length > 0 ? q : undefined
}

export default fp<LiveFeedOptions>(async function liveFeed (fastify, opts) {
  const limits: LiveLimits = { ...DEFAULT_LIMITS, ...opts.limits }
  const latest = new Map<string, Position>()
  const clients = new Set<LiveClient>()
  const index = new SubscriptionIndex<LiveClient>()
  const metrics = opts.metrics ?? createLiveMetrics()
  fastify.decorate('latestPositions', latest)
  fastify.decorate('liveMetrics', metrics)

  const jsonCache = new WeakMap<Position, string>()
  function json (p: Position): string {
    let s = jsonCache.get(p)
    if (s === undefined) jsonCache.set(p, (s = JSON.stringify(p)))
    return s
  }

  function snapshot (sub: Subscription): Position[] {
    const out: Position[] = []
    if (sub.all) {
      for (const p of latest.values()) if (matches(sub, p.vehicle_id, p.lat, p.lon)) out.push(p)
    } else {
      for (const id of sub.ids) {
        const p = latest.get(id)
        if (p && matches(sub, id, p.lat, p.lon)) out.push(p)
      }
    }
    return out
  }

  const awake = new Set<LiveClient>()
  function flushAwake (): void {
    const now = Date.now()
    for (const c of awake) c.flush(now)
    awake.clear()
  }
  const awakeBatch = turnBatch(flushAwake, limits.maxWakeMs)
  const ctx: FeedContext = {
    limits,
    metrics,
    json,
    snapshot,
    wake (c) {
      if (awake.size === 0) awakeBatch.opened()
      awake.add(c)
    }
  }

  function keepLatest (p: Position): void {
    const prev = latest.get(p.vehicle_id)
    if (!prev || p.ts >= prev.ts) latest.set(p.vehicle_id, p)
  }

  function onLive (msg: LiveMessage): void {
    route(msg)
    // a long turn does not hold back what arrived at its start
    if (awake.size > 0) awakeBatch.cutIfOld()
  }

  function route (msg: LiveMessage): void {
    if (msg.kind === 'telemetry') {
      for (const p of msg.items) {
        keepLatest(p)
        if (index.size > 0) index.forEachMatch(p.vehicle_id, p.lat, p.lon, c => c.offer(p))
      }
    } else if (msg.kind === 'events') {
      for (const e of msg.items) {
        // an event without a place is where its vehicle was last seen
        const at = e.lat !== undefined && e.lon !== undefined ? e : latest.get(e.vehicle_id)
        index.forEachMatch(e.vehicle_id, at?.lat, at?.lon, c => c.offerEvent(e as LiveEvent))
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
    const { rows } = await fastify.questdb.query(LATEST_SQL)
    for (const r of rows) {
      const { received_at: _received, ...p } = rowToPosition(r)
      keepLatest(p)
    }
  } catch (err) {
    fastify.log.warn({ err }, 'latest positions not seeded')
  }

  const ticker = setInterval(() => {
    const now = Date.now()
    let maxBuffered = 0
    let queued = 0
    for (const c of clients) {
      c.flush(now)
      const q = c.queued()
      if (q.bufferedAmount > maxBuffered) maxBuffered = q.bufferedAmount
      queued += q.queue + q.pending
    }
    metrics.maxBufferedBytes.set(maxBuffered)
    metrics.queuedPositions.set(queued)
  }, TICK_MS)
  const heartbeat = setInterval(() => {
    for (const c of clients) {
      if (c.closed || c.ws.readyState !== c.ws.OPEN) continue
      // behind: the ping waits behind unread data, and the stall rule decides
      if (!c.alive) { if (!c.behind) c.unresponsive(); continue }
      c.alive = false
      c.ws.ping()
    }
  }, limits.heartbeatMs)

  let shuttingDown = false
  // Added before @fastify/websocket registers its own preClose (which closes
  // without a code), so clients learn why they are closed.
  fastify.addHook('preClose', async () => {
    shuttingDown = true
    unsubscribe()
    clearInterval(ticker)
    clearInterval(heartbeat)
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

  const verify = opts.verifyToken
  const authHook = verify === undefined
    ? undefined
    : async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
      const token = tokenOf(req)
      const check = token === undefined ? false : await verify(token)
      if (check === true) return
      metrics.authFailures.inc()
      if (check === 'forbidden') {
        await reply.code(403).type('application/problem+json').send({
          type: 'about:blank',
          title: 'Forbidden',
          status: 403,
          code: 'API_ERR_FORBIDDEN',
          detail: 'the live feed needs the read role; this key does not have it'
        })
        return
      }
      await reply.code(401).header('www-authenticate', 'Bearer').type('application/problem+json').send({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        code: 'API_ERR_UNAUTHORIZED',
        detail: token === undefined ? 'an API key is required: Authorization: Bearer <key>, subprotocol list fleetgate.v1, bearer.<key>, or ?token=<key>' : 'API key not accepted'
      })
    }

  fastify.get(opts.path ?? '/api/v1/live', { websocket: true, ...(authHook ? { preValidation: authHook } : {}) }, (socket, req) => {
    if (shuttingDown) { socket.close(CLOSE_GOING_AWAY, 'server shutting down'); return }
    const client = new LiveClient(socket, ctx, req.raw.socket)
    clients.add(client)
    metrics.clients.inc()
    socket.on('pong', () => { client.alive = true })
    socket.on('close', () => {
      client.closed = true
      clients.delete(client)
      metrics.clients.dec()
      index.delete(client)
      metrics.subscriptions.set(index.size)
      awake.delete(client)
    })
    socket.on('message', (data, isBinary) => {
      client.alive = true
      let msg: unknown
      try { msg = JSON.parse(isBinary ? '' : data.toString()) } catch { msg = undefined }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
        client.reply('error', { detail: 'messages must be JSON objects (text frames)' })
        return
      }
      const m = msg as Record<string, unknown>
      if (m.type === 'subscribe') {
        const sub = parseSubscribe(m)
        if (typeof sub === 'string') { client.reply('error', { detail: sub }); return }
        index.set(client, sub)
        metrics.subscriptions.set(index.size)
        client.subscribe(sub)
      } else if (m.type === 'unsubscribe') {
        index.delete(client)
        metrics.subscriptions.set(index.size)
        client.unsubscribe()
        client.reply('unsubscribed', {})
      } else {
        client.reply('error', { detail: 'type must be subscribe or unsubscribe' })
      }
    })
  })
}, { name: 'live-feed', dependencies: ['questdb'] })
