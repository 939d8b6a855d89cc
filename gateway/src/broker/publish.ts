// The publish path: a vehicle's PUBLISH goes through the ingest pipeline, and
// authorizePublish calls back only once its readings are durable (Aedes
// writes PUBACK right after, before any `published` hook), after the rate
// limit's wait if there is one. What is not a valid status on the vehicle's
// own topic is then consumed (consumed-publish.ts).
import type { Client, PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import { CONSUMED_TOPIC, parseVehicleTopic, vehicleSubtree } from '../../../schemas/topics.js'
import { GW_ERR_SHUTTING_DOWN } from '../errors.js'
import type { Outcome, Pipeline } from '../ingest/pipeline.js'
import type { ToRows } from '../ingest/to-rows.js'
import type { GatewayMetrics } from '../metrics.js'
import { roleOf } from './auth.js'
import type { RateLimiter } from './rate-limit.js'
import { statusWord, type Sessions } from './sessions.js'

const NOTHING: Outcome = { readings: 0, events: 0, rejections: [] }

export interface PublishOptions {
  log: Logger
  pipeline: Pipeline
  toRows: ToRows
  metrics: GatewayMetrics
  sessions: Sessions
  refuse: (reason: string) => void
  /** Readings per second per vehicle; 0: unlimited. */
  rateLimit: number
  /** The buckets of that limit (they outlive sessions and move with takeovers). */
  limiter: RateLimiter
}

export interface PublishPath {
  authorizePublish: (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void) => void
  /** Publishes still waiting for durability. */
  inflight: () => number
  /** Refuses new publishes (they are not acknowledged, so devices resend them elsewhere). */
  stopAccepting: () => void
}

export function createPublishPath (opts: PublishOptions): PublishPath {
  const { log, pipeline, toRows, metrics, sessions, refuse } = opts
  let accepting = true
  let inflight = 0
  const { limiter } = opts
  async function throttle (vehicleId: string, outcome: Outcome): Promise<void> {
    const wait = limiter.take(vehicleId, outcome.readings + outcome.events)
    if (wait > 0) {
      metrics.throttled.inc()
      await new Promise(resolve => setTimeout(resolve, wait))
    }
  }

  function authorizePublish (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    if (client === null) {
      // a Will of a session that ended: checked at CONNECT to be the
      // vehicle's own status; stored, and passed on if the word is valid
      const t = parseVehicleTopic(packet.topic)
      if (t?.kind !== 'status') return done(new Error('refused will'))
      pipeline.ingest(t.vehicleId, 'status', packet.topic, payload).then(outcome => {
        if (outcome.rejections.length > 0) return done(new Error('refused will'))
        done(null)
      }, done)
      return
    }
    const role = roleOf(client)
    if (role !== 'vehicle') {
      refuse('internal_publish')
      return done(new Error('internal clients do not publish'))
    }
    if (!accepting) return done(new GW_ERR_SHUTTING_DOWN())
    const t = parseVehicleTopic(packet.topic)
    const own = t !== null && t.vehicleId === client.id
    inflight++
    const t0 = performance.now()
    let work: Promise<Outcome | undefined>
    if (!own) {
      // [MQTT-3.3.5-2] an unauthorised PUBLISH is either acknowledged as
      // usual or the connection closed: we acknowledge, store nothing of
      // it but its quarantine record, and keep the vehicle connected.
      refuse('foreign_topic')
      work = pipeline.quarantine(toRows.reject(client.id, packet.topic.slice(0, 512), 'id_mismatch',
        `vehicle ${client.id} may publish only under ${vehicleSubtree(client.id)}`, payload)).then(() => undefined)
    } else if (t.kind === 'status' && sessions.storedStatus(t.vehicleId) === statusWord(payload)) {
      // what is already stored: acknowledged and passed on, not stored twice
      work = Promise.resolve(NOTHING)
    } else {
      work = pipeline.ingest(t.vehicleId, t.kind, packet.topic, payload)
      if (t.kind === 'status') {
        const up = statusWord(payload)
        if (up !== null) work = work.then(outcome => { sessions.statusStored(t.vehicleId, up); return outcome })
      }
      // without a limit, no extra step per publish
      if (opts.rateLimit > 0) work = (work as Promise<Outcome>).then(async outcome => { await throttle(client.id, outcome); return outcome })
    }
    const finish = (outcome: Outcome | undefined): void => {
      inflight--
      if (packet.qos > 0) metrics.pubackSeconds.observe((performance.now() - t0) / 1000)
      // only a valid status on the vehicle's own topic goes on to
      // subscribers and the retained store (one small message per vehicle);
      // everything else is consumed here and fanned out to no one
      if (!own || t.kind !== 'status' || outcome === undefined || outcome.rejections.length > 0) {
        packet.topic = CONSUMED_TOPIC
        packet.retain = false
      }
      done(null)
    }
    const fail = (err: unknown): void => {
      inflight--
      // not durable: no PUBACK, and the connection closes (the device
      // sends it again, here or elsewhere)
      refuse('not_durable')
      log.warn({ err, vehicleId: client.id }, 'publish not made durable')
      done(err as Error)
    }
    // QoS 0 waits too, only without a PUBACK: Aedes reads a vehicle's next
    // packets once this one is done, so a QoS 0 flood is paced by the spool
    // like QoS 1. Called back at once, one turn of the event loop read
    // whatever the sockets held and starved the drain to QuestDB, while
    // unwritten appends piled up in memory (`npm run bench -- profile
    // --qos 0` shows the loop's lag and the gateway's peak RSS).
    work.then(finish, fail)
  }

  return {
    authorizePublish,
    inflight: () => inflight,
    stopAccepting () { accepting = false }
  }
}
