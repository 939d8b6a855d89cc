// The embedded Aedes broker with fleetgate's authentication and ACL, and the
// listeners for MQTT over TCP, TLS and WebSocket.
//
// Aedes writes PUBACK right after authorizePublish calls back, before any
// `published` hook, so authorizePublish is where a QoS 1 publish waits until
// its readings are durable.
import './quiet-debug.js'
import { Aedes, type Client, type AuthenticateError, type PublishPacket, type Subscription } from 'aedes'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { timingSafeEqual } from 'node:crypto'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Logger } from 'pino'
import { parseVehicleTopic, isVehicleId, vehicleSubtree, CONSUMED_TOPIC, LIVE_TOPIC_FILTER, LIVE_BATCH_TOPIC, LIVE_BATCH_MAX, LIVE_BATCH_MAX_MS, INTERNAL_USERNAME, INTERNAL_CLIENT_PREFIX } from '../../../schemas/topics.js'
import type { LiveBus, LiveMessage } from '../../../schemas/live.js'
import { turnBatch } from '../../../schemas/turn-batch.js'
import type { DeviceRegistry } from './device-registry.js'
import type { Pipeline, Outcome } from '../ingest/pipeline.js'
import type { ToRows } from '../ingest/to-rows.js'
import type { GatewayMetrics } from '../metrics.js'
import { createRateLimiter } from './rate-limit.js'
import { GatewayError } from '../errors.js'

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
}

export interface ListenOptions {
  host: string
  port: number
  wsPort: number
  tlsPort: number
  tlsCertFile?: string | undefined
  tlsKeyFile?: string | undefined
}

export interface Addresses { mqtt: string, ws?: string, tls?: string }

type Role = 'vehicle' | 'internal'
const roles = new WeakMap<Client, Role>()

function authError (message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

export interface FleetBroker {
  aedes: Aedes
  listen: (opts: ListenOptions) => Promise<Addresses>
  /** Refuses new publishes (they are not acknowledged, so devices resend them elsewhere). */
  stopAccepting: () => void
  /** Publishes still waiting for durability. */
  inflight: () => number
  disconnect: (vehicleId: string) => void
  close: () => Promise<void>
}

export function createFleetBroker (opts: BrokerOptions): FleetBroker {
  const { log, registry, pipeline, toRows, metrics, live } = opts
  const internalToken = Buffer.from(opts.internalToken)
  let accepting = true
  let inflight = 0
  let internalClients = 0
  const limiter = createRateLimiter(opts.rateLimit)
  async function throttle (vehicleId: string, outcome: Outcome): Promise<void> {
    const wait = limiter.take(vehicleId, outcome.readings + outcome.events)
    if (wait > 0) {
      metrics.throttled.inc()
      await new Promise(resolve => setTimeout(resolve, wait))
    }
  }
  const servers: Array<NetServer | HttpServer> = []
  const wsServers: WebSocketServer[] = []

  function refuse (reason: string): void {
    metrics.refused.inc({ reason })
  }

  const aedes = new Aedes({
    concurrency: 1000,
    drainTimeout: 30000,
    maxClientsIdLength: 64,
    heartbeatInterval: 60000,
    connectTimeout: 10000,

    authenticate (client, username, password, done) {
      const id = client.id
      if (username === INTERNAL_USERNAME) {
        const given = password ?? Buffer.alloc(0)
        if (id.startsWith(INTERNAL_CLIENT_PREFIX) && given.length === internalToken.length && timingSafeEqual(given, internalToken)) {
          roles.set(client, 'internal')
          return done(null, true)
        }
        refuse('bad_internal_token')
        return done(authError('not authorized', 5), null)
      }
      if (!isVehicleId(id)) {
        refuse('bad_client_id')
        return done(authError('client id is not a valid vehicle id', 2), null)
      }
      if (username !== id) {
        refuse('id_mismatch')
        return done(authError('username must equal client id', 4), null)
      }
      if (!password || !registry.verify(id, password.toString('utf8'))) {
        refuse('bad_token')
        return done(authError('bad token', 4), null)
      }
      roles.set(client, 'vehicle')
      done(null, true)
    },

    authorizeSubscribe (client, sub: Subscription, done) {
      const role = roles.get(client)
      if (role === 'internal' && sub.topic === LIVE_TOPIC_FILTER) return done(null, sub)
      if (role === 'vehicle' && sub.topic.startsWith(vehicleSubtree(client.id))) return done(null, sub)
      refuse('foreign_subscription')
      // [MQTT-3.9.3] a failure return code (0x80) in SUBACK, the session stays
      done(null, null)
    },

    authorizePublish (client, packet: PublishPacket, done) {
      if (client === null) {
        // a will of a client that is gone: only status topics are honoured
        const t = parseVehicleTopic(packet.topic)
        if (t?.kind !== 'status') return done(new Error('refused will'))
        pipeline.ingest(t.vehicleId, 'status', packet.topic, packet.payload as Buffer).then(() => done(null), done)
        return
      }
      const role = roles.get(client)
      if (role !== 'vehicle') {
        refuse('internal_publish')
        return done(new Error('internal clients do not publish'))
      }
      if (!accepting) return done(new GatewayError('GW_ERR_SHUTTING_DOWN', 'shutting down'))
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      const t = parseVehicleTopic(packet.topic)
      inflight++
      const t0 = performance.now()
      let work: Promise<unknown>
      if (t === null || t.vehicleId !== client.id) {
        // [MQTT-3.3.5-2] an unauthorised PUBLISH is either acknowledged as
        // usual or the connection closed: we acknowledge, store nothing of
        // it but its quarantine record, and keep the vehicle connected.
        refuse('foreign_topic')
        work = pipeline.quarantine(toRows.reject(client.id, packet.topic.slice(0, 512), 'id_mismatch',
          `vehicle ${client.id} may publish only under ${vehicleSubtree(client.id)}`, payload))
      } else {
        work = pipeline.ingest(t.vehicleId, t.kind, packet.topic, payload)
        // without a limit, no extra step per publish
        if (opts.rateLimit > 0) work = (work as Promise<Outcome>).then(outcome => throttle(client.id, outcome))
      }
      const finish = (err?: unknown): void => {
        inflight--
        if (err) {
          log.warn({ err, vehicleId: client.id }, 'publish not made durable')
          return done(err as Error)
        }
        if (packet.qos > 0) metrics.pubackSeconds.observe((performance.now() - t0) / 1000)
        if (t === null || t.kind !== 'status') {
          // consumed here: the broker fans nothing of it out
          packet.topic = CONSUMED_TOPIC
          packet.retain = false
        }
        done(null)
      }
      // QoS 0 waits too, only without a PUBACK: Aedes reads a vehicle's next
      // packets once this one is done, so a QoS 0 flood is paced by the spool
      // like QoS 1. Called back at once, one turn of the event loop read
      // whatever the sockets held (lag up to 4 s at 38,000/s) and starved the
      // drain to QuestDB, while unwritten appends piled up in memory (1.1 GB).
      work.then(() => finish(), finish)
    }
  })

  // A consumed publish (a reading, an event, a foreign topic) is delivered to
  // no one: after its PUBACK, Aedes would still wrap it in a packet of its
  // own, look up retained and offline subscriptions and run it through the
  // emitter, for nothing (9.5 % of the gateway's allocations at 12,500/s).
  // Aedes calls it as publish(packet, client, done); its types know (packet, done)
  type Publish = (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) => void
  const publish = (aedes.publish as unknown as Publish).bind(aedes)
  const publishUnlessConsumed: Publish = (packet, client, done) => {
    if (packet.topic !== CONSUMED_TOPIC) return publish(packet, client, done)
    const cb = typeof client === 'function' ? client : done
    cb?.()
  }
  ;(aedes as unknown as { publish: Publish }).publish = publishUnlessConsumed

  aedes.on('client', () => metrics.connected.inc())
  aedes.on('clientDisconnect', client => {
    metrics.connected.dec()
    limiter.forget(client.id)
    if (roles.get(client) === 'internal') internalClients = Math.max(0, internalClients - 1)
  })
  aedes.on('clientReady', client => {
    if (roles.get(client) === 'internal') internalClients++
  })
  aedes.on('clientError', (client, err) => { log.debug({ err, vehicleId: client?.id }, 'client error') })
  aedes.on('connectionError', (client, err) => { log.debug({ err, vehicleId: client?.id }, 'connection error') })

  // Accepted data also goes out on $fleet/live/batch for api processes apart
  // from us: one publish per event-loop turn, not one per reading, so the
  // broker's queue stays short at fleet rates (one publish per reading at
  // 10,000 readings/s built a backlog of seconds and, draining, overflowed
  // mqemitter's stack).
  let liveBatch: LiveMessage[] = []
  function flushLive (): void {
    const batch = liveBatch
    liveBatch = []
    if (internalClients === 0) return
    for (let i = 0; i < batch.length; i += LIVE_BATCH_MAX) {
      const payload = Buffer.from(JSON.stringify(batch.slice(i, i + LIVE_BATCH_MAX)))
      aedes.publish({ cmd: 'publish', topic: LIVE_BATCH_TOPIC, payload, qos: 0, retain: false, dup: false }, () => {})
    }
  }
  const liveTurn = turnBatch(flushLive, LIVE_BATCH_MAX_MS)
  const unsubscribeLive = live.subscribe(msg => {
    if (internalClients === 0) return
    liveBatch.push(msg)
    // at the end of the turn, or once the first message is LIVE_BATCH_MAX_MS old
    if (liveBatch.length === 1) liveTurn.opened()
    else liveTurn.cutIfOld()
  })

  async function listenOn (server: NetServer | HttpServer, port: number, host: string): Promise<number> {
    servers.push(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    return (server.address() as { port: number }).port
  }

  function urlHost (host: string): string {
    return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  }

  return {
    aedes,
    async listen (l) {
      await aedes.listen()
      const tcpPort = await listenOn(createNetServer(aedes.handle), l.port, l.host)
      const addresses: Addresses = { mqtt: `mqtt://${urlHost(l.host)}:${tcpPort}` }
      if (l.wsPort >= 0) {
        const http = createHttpServer((_req, res) => { res.writeHead(426).end('use MQTT over WebSocket on /mqtt') })
        const wss = new WebSocketServer({ server: http, path: '/mqtt' })
        wsServers.push(wss)
        wss.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws)
          stream.on('error', () => stream.destroy())
          aedes.handle(stream, req)
        })
        const p = await listenOn(http, l.wsPort, l.host)
        addresses.ws = `ws://${urlHost(l.host)}:${p}/mqtt`
      }
      if (l.tlsCertFile && l.tlsKeyFile) {
        const tls = createTlsServer({ cert: readFileSync(l.tlsCertFile), key: readFileSync(l.tlsKeyFile) }, aedes.handle)
        const p = await listenOn(tls as unknown as NetServer, l.tlsPort, l.host)
        addresses.tls = `mqtts://${urlHost(l.host)}:${p}`
      }
      return addresses
    },
    stopAccepting () {
      accepting = false
      for (const s of servers) s.close()
    },
    inflight: () => inflight,
    disconnect (vehicleId) {
      const c = (aedes as unknown as { clients: Record<string, Client> }).clients[vehicleId]
      if (c) c.close()
    },
    async close () {
      accepting = false
      unsubscribeLive()
      for (const w of wsServers) {
        for (const c of w.clients) c.terminate()
        w.close()
      }
      for (const s of servers) s.close()
      await new Promise<void>(resolve => aedes.close(() => resolve()))
    }
  }
}
