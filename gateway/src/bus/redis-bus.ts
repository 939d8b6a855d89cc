// The bus between nodes on several machines (REDIS_URL): Redis pub/sub
// carries each gateway node's live batches to every api node, and each
// gateway's session starts to the others, which end their own session of that
// vehicle as a takeover and hand what the session held (its last status, its
// rate-limit budget) to the node that took it over. Redis is never on the acknowledgement path: a message
// for a Redis that is down is dropped at once and counted (no offline queue
// growing in memory), the outage logged once; ioredis reconnects and
// resubscribes by itself.
import { Redis } from 'ioredis'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import { LIVE_BATCH_MAX_MS, type LiveSource } from '../../../lib/live-bus.js'
import type { LiveMessage } from '../../../schemas/live.js'
import type { Handover } from '../broker/broker.js'
import { isVehicleId, LIVE_BATCH_MAX, parseLiveBatch } from '../../../schemas/topics.js'
import { turnBatch } from '../../../lib/turn-batch.js'

export const LIVE_CHANNEL = 'fleetgate:live'
export const SESSION_CHANNEL = 'fleetgate:sessions'
export const HANDOVER_CHANNEL = 'fleetgate:handovers'
/**
 * How long a new session's online record waits for a handover: a takeover's
 * round trip is a few Redis and IPC hops; without a handover by then the
 * vehicle was online nowhere else (or Redis lost the message: a repeated
 * online, never a lost one).
 */
export const HANDOVER_WAIT_MS = 1000

/** A vehicle's session started (or ended other than by a takeover) on `node`; `sid` numbers it there. */
export interface SessionAnnouncement { node: string, vehicleId: string, sid: number, started: boolean }

/** From the node that lost a session to the node `to` whose session `sid` took it over. */
export interface HandoverMessage { to: string, vehicleId: string, sid: number, h: Handover | null }

export interface RedisBusOptions {
  url: string
  /** This node's id (NODE_ID). */
  node: string
  log: Logger
  /** What this node follows: api nodes the live stream, gateway nodes the sessions. */
  follow: { live?: boolean, sessions?: boolean }
  /** Where the bus's metrics go (the gateway's registry, or the api's). */
  registry?: Registry
}

export interface RedisBus {
  /** Both connections ready. */
  up: () => boolean
  /** Resolves once connected, or after `ms` (a start does not wait for Redis longer). */
  ready: (ms: number) => Promise<boolean>
  /** Fire and forget; dropped and counted while Redis is down. */
  publishLive: (batch: LiveMessage[]) => void
  announceSession: (e: Omit<SessionAnnouncement, 'node'>) => void
  onSession: (fn: (e: SessionAnnouncement) => void) => () => void
  sendHandover: (m: HandoverMessage) => void
  /** Handovers addressed to this node. */
  onHandover: (fn: (m: HandoverMessage) => void) => () => void
  /** Every gateway node's live batches (with follow.live). */
  live: LiveSource
  /** A line for /readyz while the bus is down. */
  degraded: () => string[]
  close: () => Promise<void>
}

export function createRedisBus (opts: RedisBusOptions): RedisBus {
  const { log } = opts
  const r = opts.registry ? { registers: [opts.registry] } : { registers: [] }
  const dropped = new Counter({ name: 'fleetgate_bus_dropped_total', help: 'Messages not sent on the Redis bus because it was down, by kind (live batches, session announcements, handovers)', labelNames: ['kind'], ...r })
  // retries every 100 ms growing to 1 s, for ever: a node outlives a Redis outage
  const common = { retryStrategy: (times: number) => Math.min(times * 100, 1000), maxRetriesPerRequest: 1, lazyConnect: false }
  // publishing: no offline queue, a command while down fails at once
  const pub = new Redis(opts.url, { ...common, enableOfflineQueue: false, connectionName: `fleetgate-${opts.node}-pub` })
  // subscribing: the SUBSCRIBE issued before the first connect waits for it; ioredis resubscribes after a reconnect
  const sub = new Redis(opts.url, { ...common, enableOfflineQueue: true, autoResubscribe: true, connectionName: `fleetgate-${opts.node}-sub` })
  const up = (): boolean => pub.status === 'ready' && sub.status === 'ready'
  // eslint-disable-next-line no-new
  new Gauge({ name: 'fleetgate_bus_up', help: 'Whether this node is connected to the Redis bus (REDIS_URL)', ...r, aggregator: 'min', collect () { this.set(up() ? 1 : 0) } })
  const handovers = new Counter({ name: 'fleetgate_bus_handovers_total', help: 'Session handovers (last status, rate-limit budget) sent to and received from other nodes', labelNames: ['direction'], ...r })

  let down = false
  let closing = false
  const onError = (err: Error): void => {
    if (closing || down) return
    down = true
    log.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'redis bus down: live batches and session announcements are dropped until it returns')
  }
  const onReady = (): void => {
    if (!up()) return
    if (down) log.info('redis bus up again')
    down = false
  }
  for (const c of [pub, sub]) {
    c.on('error', onError)
    c.on('end', () => { if (!closing) onError(new Error('connection ended')) })
    c.on('ready', onReady)
  }

  const ee = new EventEmitter()
  ee.setMaxListeners(0)
  const channels = [...opts.follow.live ? [LIVE_CHANNEL] : [], ...opts.follow.sessions ? [SESSION_CHANNEL, HANDOVER_CHANNEL] : []]
  if (channels.length > 0) sub.subscribe(...channels).catch((err: unknown) => { log.error({ err }, 'redis subscribe failed') })
  sub.on('message', (channel: string, text: string) => {
    if (channel === LIVE_CHANNEL) {
      for (const m of parseLiveBatch(text)) ee.emit('live', m)
    } else if (channel === SESSION_CHANNEL) {
      let e: SessionAnnouncement
      try { e = JSON.parse(text) as SessionAnnouncement } catch { return }
      if (typeof e.node === 'string' && isVehicleId(e.vehicleId) && typeof e.sid === 'number') ee.emit('session', e)
    } else if (channel === HANDOVER_CHANNEL) {
      let m: HandoverMessage
      try { m = JSON.parse(text) as HandoverMessage } catch { return }
      if (m.to !== opts.node || !isVehicleId(m.vehicleId) || typeof m.sid !== 'number') return
      handovers.inc({ direction: 'received' })
      ee.emit('handover', { to: m.to, vehicleId: m.vehicleId, sid: m.sid, h: parseHandover(m.h) })
    }
  })

  function send (kind: 'live' | 'session' | 'handover', channel: string, text: string): void {
    if (pub.status !== 'ready') { dropped.inc({ kind }); return }
    pub.publish(channel, text).catch(() => { dropped.inc({ kind }) })
  }

  return {
    up,
    async ready (ms) {
      if (up()) return true
      return await new Promise<boolean>(resolve => {
        const timer = setTimeout(() => { pub.off('ready', check); sub.off('ready', check); resolve(up()) }, ms)
        function check (): void { if (up()) { clearTimeout(timer); pub.off('ready', check); sub.off('ready', check); resolve(true) } }
        pub.on('ready', check)
        sub.on('ready', check)
      })
    },
    publishLive (batch) {
      for (let i = 0; i < batch.length; i += LIVE_BATCH_MAX) send('live', LIVE_CHANNEL, JSON.stringify(batch.slice(i, i + LIVE_BATCH_MAX)))
    },
    announceSession (e) {
      send('session', SESSION_CHANNEL, JSON.stringify({ node: opts.node, ...e } satisfies SessionAnnouncement))
    },
    onSession (fn) { ee.on('session', fn); return () => { ee.off('session', fn) } },
    sendHandover (m) {
      handovers.inc({ direction: 'sent' })
      send('handover', HANDOVER_CHANNEL, JSON.stringify(m))
    },
    onHandover (fn) { ee.on('handover', fn); return () => { ee.off('handover', fn) } },
    live: { subscribe (fn) { ee.on('live', fn); return () => { ee.off('live', fn) } } },
    degraded: () => up() ? [] : ['redis bus down: the live stream and session takeovers do not cross nodes; ingestion goes on'],
    async close () {
      closing = true
      ee.removeAllListeners()
      await Promise.all([pub, sub].map(async c => {
        if (c.status === 'ready') await c.quit().catch(() => { c.disconnect() })
        else c.disconnect()
      }))
    }
  }
}

/** A handover from the wire: anything malformed counts as nothing handed over. */
function parseHandover (h: unknown): Handover | null {
  if (typeof h !== 'object' || h === null) return null
  const { status, tokens } = h as Partial<Handover>
  return { status: typeof status === 'boolean' ? status : null, tokens: typeof tokens === 'number' && Number.isFinite(tokens) ? tokens : null }
}

/** A node's sessions as the bus sees them: one broker, or the workers behind a primary. */
export interface SessionHolder {
  /** Ends this node's session `sid` of the vehicle as a takeover; `reply` gets what it held (maybe later). */
  takeover: (vehicleId: string, sid: number, reply: (h: Handover | null) => void) => void
  /** What the node that held the vehicle handed over to this node's session `sid`. */
  handover: (vehicleId: string, sid: number, h: Handover | null) => void
}

/**
 * A gateway node on the bus: its live stream goes out one batch per
 * event-loop turn, and a session start announced by another node ends this
 * node's session of that vehicle as a takeover (no offline recorded), whose
 * handover goes back to the announcing node. Returns a stop.
 */
export function joinBus (bus: RedisBus, node: string, live: LiveSource, sessions: SessionHolder): () => void {
  let batch: LiveMessage[] = []
  const turn = turnBatch(() => {
    const b = batch
    batch = []
    if (b.length > 0) bus.publishLive(b)
  }, LIVE_BATCH_MAX_MS)
  const stopLive = live.subscribe(msg => {
    batch.push(msg)
    if (batch.length === 1) turn.opened()
    else turn.cutIfOld()
  })
  // this node's sessions as the channel ordered them: a start elsewhere
  // announced after ours ends ours; one announced before it is older, and
  // its own node ends it when ours arrives there
  const announced = new Map<string, number>()
  const stopSessions = bus.onSession(e => {
    if (e.node === node) {
      if (e.started) announced.set(e.vehicleId, e.sid)
      else if (announced.get(e.vehicleId) === e.sid) announced.delete(e.vehicleId)
      return
    }
    if (!e.started) return
    const sid = announced.get(e.vehicleId)
    if (sid === undefined) return
    announced.delete(e.vehicleId)
    // [MQTT-3.1.4-2] one session per client id, across nodes too
    sessions.takeover(e.vehicleId, sid, h => { bus.sendHandover({ to: e.node, vehicleId: e.vehicleId, sid: e.sid, h }) })
  })
  const stopHandovers = bus.onHandover(m => { sessions.handover(m.vehicleId, m.sid, m.h) })
  return () => { stopLive(); stopSessions(); stopHandovers() }
}
