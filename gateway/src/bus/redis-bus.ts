// The bus between nodes on several machines (REDIS_URL): Redis pub/sub
// carries each gateway node's live batches to every api node, and each
// gateway's session starts to the others, which end their own session of that
// vehicle as a takeover. Redis is never on the acknowledgement path: a message
// for a Redis that is down is dropped at once and counted (no offline queue
// growing in memory), the outage logged once; ioredis reconnects and
// resubscribes by itself.
import { Redis } from 'ioredis'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { LiveBus, LiveMessage, LiveSource } from '../../../schemas/live.js'
import { isVehicleId, LIVE_BATCH_MAX, LIVE_BATCH_MAX_MS } from '../../../schemas/topics.js'
import { turnBatch } from '../../../schemas/turn-batch.js'

export const LIVE_CHANNEL = 'fleetgate:live'
export const SESSION_CHANNEL = 'fleetgate:sessions'

/** A vehicle's session started (or ended other than by a takeover) on `node`; `sid` numbers it there. */
export interface SessionAnnouncement { node: string, vehicleId: string, sid: number, started: boolean }

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
  /** Every gateway node's live batches (with follow.live). */
  live: LiveSource
  /** A line for /readyz while the bus is down. */
  degraded: () => string[]
  close: () => Promise<void>
}

const KINDS: ReadonlySet<string> = new Set(['telemetry', 'events', 'status', 'alert'])

/** A live batch from the channel, checked as the MQTT live source checks it. */
export function parseLiveBatch (text: string): LiveMessage[] {
  let batch: unknown
  try { batch = JSON.parse(text) } catch { return [] }
  if (!Array.isArray(batch)) return []
  return (batch as Array<Partial<LiveMessage>>).filter(m => KINDS.has(m.kind as string) && isVehicleId(m.vehicleId) && Array.isArray(m.items)) as LiveMessage[]
}

export function createRedisBus (opts: RedisBusOptions): RedisBus {
  const { log } = opts
  const r = opts.registry ? { registers: [opts.registry] } : { registers: [] }
  const dropped = new Counter({ name: 'fleetgate_bus_dropped_total', help: 'Messages not sent on the Redis bus because it was down, by kind (live batches, session announcements)', labelNames: ['kind'], ...r })
  // retries every 100 ms growing to 1 s, for ever: a node outlives a Redis outage
  const common = { retryStrategy: (times: number) => Math.min(times * 100, 1000), maxRetriesPerRequest: 1, lazyConnect: false }
  // publishing: no offline queue, a command while down fails at once
  const pub = new Redis(opts.url, { ...common, enableOfflineQueue: false, connectionName: `fleetgate-${opts.node}-pub` })
  // subscribing: the SUBSCRIBE issued before the first connect waits for it; ioredis resubscribes after a reconnect
  const sub = new Redis(opts.url, { ...common, enableOfflineQueue: true, autoResubscribe: true, connectionName: `fleetgate-${opts.node}-sub` })
  const up = (): boolean => pub.status === 'ready' && sub.status === 'ready'
  // eslint-disable-next-line no-new
  new Gauge({ name: 'fleetgate_bus_up', help: 'Whether this node is connected to the Redis bus (REDIS_URL)', ...r, collect () { this.set(up() ? 1 : 0) } })

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
  const channels = [...opts.follow.live ? [LIVE_CHANNEL] : [], ...opts.follow.sessions ? [SESSION_CHANNEL] : []]
  if (channels.length > 0) sub.subscribe(...channels).catch((err: unknown) => { log.error({ err }, 'redis subscribe failed') })
  sub.on('message', (channel: string, text: string) => {
    if (channel === LIVE_CHANNEL) {
      for (const m of parseLiveBatch(text)) ee.emit('live', m)
    } else if (channel === SESSION_CHANNEL) {
      let e: SessionAnnouncement
      try { e = JSON.parse(text) as SessionAnnouncement } catch { return }
      if (typeof e.node === 'string' && isVehicleId(e.vehicleId) && typeof e.sid === 'number') ee.emit('session', e)
    }
  })

  function send (kind: 'live' | 'session', channel: string, text: string): void {
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

/**
 * A gateway node on the bus: its live stream goes out one batch per
 * event-loop turn, and a session start announced by another node ends this
 * node's session of that vehicle as a takeover (no offline recorded).
 * Returns the broker's onSession hook (this node's announcements) and a stop.
 */
export function joinBus (bus: RedisBus, node: string, gateway: { live: LiveBus, broker: { takeover: (vehicleId: string, sid: number) => void } }): () => void {
  let batch: LiveMessage[] = []
  const turn = turnBatch(() => {
    const b = batch
    batch = []
    if (b.length > 0) bus.publishLive(b)
  }, LIVE_BATCH_MAX_MS)
  const stopLive = gateway.live.subscribe(msg => {
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
    gateway.broker.takeover(e.vehicleId, sid)
  })
  return () => { stopLive(); stopSessions() }
}
