// The embedded Aedes broker with fleetgate's authentication and ACL
// (auth.ts), its vehicles' sessions (sessions.ts), the live relay to api
// processes (live-relay.ts) and the listeners for MQTT over TCP, TLS and
// WebSocket (listeners.ts), and the publish path where a PUBLISH waits until
// its readings are durable (publish.ts). This file wires them.
import './quiet-debug.js'
import { Aedes, type Client } from 'aedes'
import type { Logger } from 'pino'
import type { LiveBus } from '../../../lib/live-bus.js'
import type { DeviceRegistry } from './device-registry.js'
import type { Pipeline } from '../ingest/pipeline.js'
import type { ToRows } from '../ingest/to-rows.js'
import type { GatewayMetrics } from '../metrics.js'
import { createAuth, roleOf } from './auth.js'
import { skipConsumedPublishes } from './consumed-publish.js'
import { createListeners, type Addresses, type ListenOptions } from './listeners.js'
import { relayLive } from './live-relay.js'
import { createPublishPath } from './publish.js'
import { createSessions, type Handover } from './sessions.js'
import { createRateLimiter } from './rate-limit.js'

export { MAX_CONNECT_BYTES, MAX_TOPIC_OVERHEAD, type Addresses, type ListenOptions } from './listeners.js'

export interface BrokerOptions {
  log: Logger
  registry: DeviceRegistry
  internalToken: string
  pipeline: Pipeline
  toRows: ToRows
  live: LiveBus
  metrics: GatewayMetrics
  /** Readings per second per vehicle; 0: unlimited. */
  rateLimit: number
  /** MAX_PAYLOAD_BYTES: with MAX_TOPIC_OVERHEAD, the largest packet after login. */
  maxPayloadBytes: number
  /**
   * A vehicle's session started (`sid` numbers it in this broker), or ended
   * other than by a takeover: for the brokers beside this one, which end
   * their own session of the vehicle (see `takeover`).
   */
  onSession?: (event: { vehicleId: string, sid: number, started: boolean }) => void
  /**
   * How long a new session's online record waits for a `handover` (ms; 0 or
   * absent: it is recorded at once). With brokers beside this one, the
   * vehicle may be online in one of them: the handover says so, and no second
   * online is recorded. Without one in time, online is recorded (at worst a
   * repeat, never a loss).
   */
  holdOnlineMs?: () => number
}

export type { Handover } from './sessions.js'

export interface FleetBroker {
  aedes: Aedes
  listen: (opts: ListenOptions) => Promise<Addresses>
  /** Refuses new publishes (they are not acknowledged, so devices resend them elsewhere). */
  stopAccepting: () => void
  /** Publishes still waiting for durability. */
  inflight: () => number
  disconnect: (vehicleId: string) => void
  /**
   * Another broker now holds the vehicle's session: ends the session `sid`
   * here, if it is still the current one, without recording offline, and
   * returns what the new session's broker needs (null: no such session).
   */
  takeover: (vehicleId: string, sid: number) => Handover | null
  /** The handover for this broker's session `sid` (null: the other broker had nothing). */
  handover: (vehicleId: string, sid: number, h: Handover | null) => void
  close: () => Promise<void>
}

export function createFleetBroker (opts: BrokerOptions): FleetBroker {
  const { log, registry, pipeline, toRows, metrics, live } = opts
  function refuse (reason: string): void {
    metrics.refused.inc({ reason })
  }

  const limiter = createRateLimiter(opts.rateLimit)
  const sessions = createSessions({ log, pipeline, limiter, onSession: opts.onSession, holdOnlineMs: opts.holdOnlineMs })
  const auth = createAuth({ registry, internalToken: opts.internalToken, refuse, accepted: sessions.accepted })
  const publishPath = createPublishPath({ log, pipeline, toRows, metrics, sessions, refuse, rateLimit: opts.rateLimit, limiter })

  const aedes = new Aedes({
    concurrency: 1000,
    drainTimeout: 30000,
    maxClientsIdLength: 64,
    heartbeatInterval: 60000,
    connectTimeout: 10000,
    ...auth,
    authorizePublish: publishPath.authorizePublish
  })
  skipConsumedPublishes(aedes)

  // every connection, from accept to close: the connected-clients gauge
  // counts those of them with an accepted session, so it cannot drift from
  // the sockets whatever order Aedes' events come in
  const connections = new Set<Client>()
  metrics.observeConnections(() => {
    let n = 0
    for (const c of connections) if (c.connected && !c.closed) n++
    return n
  })

  aedes.on('clientReady', client => {
    if (roleOf(client) === 'vehicle') sessions.ready(client)
  })
  aedes.on('clientError', (client, err) => { log.debug({ err, vehicleId: client?.id }, 'client error') })
  aedes.on('connectionError', (client, err) => { log.debug({ err, vehicleId: client?.id }, 'connection error') })

  const stopLive = relayLive(aedes, live)

  const listeners = createListeners({
    aedes,
    log,
    maxPayloadBytes: opts.maxPayloadBytes,
    refuse,
    opened (client) { connections.add(client) },
    closed (client) {
      connections.delete(client)
      if (roleOf(client) === 'vehicle') sessions.ended(client)
    }
  })

  return {
    aedes,
    listen: listeners.listen,
    stopAccepting () {
      publishPath.stopAccepting()
      listeners.stopAccepting()
    },
    inflight: publishPath.inflight,
    disconnect: sessions.disconnect,
    takeover: sessions.takeover,
    handover: sessions.handover,
    async close () {
      publishPath.stopAccepting()
      stopLive()
      listeners.close()
      await new Promise<void>(resolve => aedes.close(() => resolve()))
      sessions.close()
    }
  }
}
