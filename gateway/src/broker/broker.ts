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
import type { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Logger } from 'pino'
import { parseVehicleTopic, isVehicleId, vehicleSubtree, vehicleTopic, CONSUMED_TOPIC, LIVE_TOPIC_FILTER, LIVE_BATCH_TOPIC, LIVE_BATCH_MAX, LIVE_BATCH_MAX_MS, INTERNAL_USERNAME, INTERNAL_CLIENT_PREFIX } from '../../../schemas/topics.js'
import type { LiveBus, LiveMessage } from '../../../schemas/live.js'
import { turnBatch } from '../../../schemas/turn-batch.js'
import type { DeviceRegistry } from './device-registry.js'
import type { Pipeline, Outcome } from '../ingest/pipeline.js'
import type { ToRows } from '../ingest/to-rows.js'
import type { GatewayMetrics } from '../metrics.js'
import { createRateLimiter } from './rate-limit.js'
import { GatewayError } from '../errors.js'
import { createPacketGuard, type GuardLimits } from './packet-guard.js'

/**
 * Largest packet before a session is accepted: a CONNECT holds a client id
 * and user name of at most 64 characters, a 47-character token and a Will of
 * a status topic and word; this leaves room for long internal tokens.
 */
export const MAX_CONNECT_BYTES = 1024
/** Room beside MAX_PAYLOAD_BYTES in one PUBLISH: topic length, topic, packet id. */
export const MAX_TOPIC_OVERHEAD = 2 + 1024 + 2

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

/** What a broker that lost a vehicle's session to another hands over to it. */
export interface Handover {
  /** The last status this broker stored for the vehicle (null: none yet). */
  status: boolean | null
  /** The vehicle's rate-limit budget (null: full). */
  tokens: number | null
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

/** true for "online", false for "offline", null for anything else (as to-rows.ts reads a status). */
function statusWord (payload: Buffer | string): boolean | null {
  const text = payload.toString().trim()
  return text === 'online' ? true : text === 'offline' ? false : null
}

const NOTHING: Outcome = { readings: 0, events: 0, rejections: [] }

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

  // Sessions by vehicle: `arriving` from accepted credentials to CONNACK,
  // `sessions` from CONNACK to the socket's close. The gateway records a
  // vehicle online when its first session starts and offline when its last
  // one ends; a takeover (a new CONNECT of the same id) is not an end.
  const arriving = new Map<string, Client>()
  const sessions = new Map<string, Client>()
  // the last status stored per vehicle, whoever said it (the session, the
  // vehicle, its Will): a repeat of it is not stored again
  const status = new Map<string, boolean>()
  const wills = new WeakMap<Client, { topic: string, payload: Buffer | string }>()

  function recordStatus (vehicleId: string, up: boolean): void {
    if (status.get(vehicleId) === up) return
    status.set(vehicleId, up)
    pipeline.ingest(vehicleId, 'status', vehicleTopic(vehicleId, 'status'), Buffer.from(up ? 'online' : 'offline'))
      .catch((err: unknown) => { log.warn({ err, vehicleId }, 'session status not recorded') })
  }

  /** Ends a client's connection whatever state its session is in. */
  function end (client: Client): void {
    client.close()
    ;(client as unknown as { conn: Duplex }).conn.destroy()
  }

  // session numbers, and the sessions another broker took over
  let nextSid = 0
  const sids = new WeakMap<Client, number>()
  const takenOver = new WeakSet<Client>()
  // online records waiting for a handover (see holdOnlineMs)
  const holding = new Map<string, { sid: number, timer: NodeJS.Timeout }>()

  function holdOnline (vehicleId: string, sid: number): void {
    const before = holding.get(vehicleId)
    if (before !== undefined) clearTimeout(before.timer)
    const ms = opts.holdOnlineMs?.() ?? 0
    if (ms <= 0) {
      holding.delete(vehicleId)
      recordStatus(vehicleId, true)
      return
    }
    const timer = setTimeout(() => {
      holding.delete(vehicleId)
      recordStatus(vehicleId, true)
    }, ms)
    holding.set(vehicleId, { sid, timer })
  }

  function sessionEnded (client: Client): void {
    const id = client.id
    if (arriving.get(id) === client) arriving.delete(id)
    if (sessions.get(id) === client) sessions.delete(id)
    if (arriving.has(id) || sessions.has(id)) return
    const held = holding.get(id)
    if (held !== undefined) { clearTimeout(held.timer); holding.delete(id) }
    if (takenOver.has(client)) {
      // the vehicle is online elsewhere: whatever this broker stored last
      // is no guide to what it stores next
      status.delete(id)
      return
    }
    // no handover came in time: the session was this vehicle's only one
    if (held !== undefined) recordStatus(id, true)
    recordStatus(id, false)
    const sid = sids.get(client)
    if (sid !== undefined) opts.onSession?.({ vehicleId: id, sid, started: false })
  }

  const aedes = new Aedes({
    concurrency: 1000,
    drainTimeout: 30000,
    maxClientsIdLength: 64,
    heartbeatInterval: 60000,
    connectTimeout: 10000,

    preConnect (client, packet, done) {
      // authenticate sees no Will: keep it for the check there
      if (packet.will) wills.set(client, packet.will)
      done(null, true)
    },

    authenticate (client, username, password, done) {
      const id = client.id
      const will = wills.get(client)
      if (username === INTERNAL_USERNAME) {
        const given = password ?? Buffer.alloc(0)
        if (will === undefined && id.startsWith(INTERNAL_CLIENT_PREFIX) && given.length === internalToken.length && timingSafeEqual(given, internalToken)) {
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
      if (will !== undefined && (will.topic !== vehicleTopic(id, 'status') || statusWord(will.payload) === null)) {
        // a Will speaks only for its own vehicle, as its status
        refuse('foreign_will')
        return done(authError(`a Will must be "online" or "offline" on ${vehicleTopic(id, 'status')}`, 5), null)
      }
      roles.set(client, 'vehicle')
      // the newest CONNECT of an id wins: an older one still connecting is
      // closed, so Aedes never registers two sessions of one id at once
      const before = arriving.get(id)
      arriving.set(id, client)
      if (before !== undefined && before !== client) end(before)
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
      const role = roles.get(client)
      if (role !== 'vehicle') {
        refuse('internal_publish')
        return done(new Error('internal clients do not publish'))
      }
      if (!accepting) return done(new GatewayError('GW_ERR_SHUTTING_DOWN', 'shutting down'))
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
      } else if (t.kind === 'status' && status.get(t.vehicleId) === statusWord(payload)) {
        // what is already stored: acknowledged and passed on, not stored twice
        work = Promise.resolve(NOTHING)
      } else {
        work = pipeline.ingest(t.vehicleId, t.kind, packet.topic, payload)
        if (t.kind === 'status') {
          const up = statusWord(payload)
          if (up !== null) work = work.then(outcome => { status.set(t.vehicleId, up); return outcome })
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
      // whatever the sockets held (lag up to 4 s at 38,000/s) and starved the
      // drain to QuestDB, while unwritten appends piled up in memory (1.1 GB).
      work.then(finish, fail)
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

  // every connection, from accept to close: the connected-clients gauge
  // counts those of them with an accepted session, so it cannot drift from
  // the sockets whatever order Aedes' events come in
  const connections = new Set<Client>()
  metrics.observeConnections(() => {
    let n = 0
    for (const c of connections) if (c.connected && !c.closed) n++
    return n
  })

  aedes.on('clientDisconnect', client => {
    if (roles.get(client) === 'internal') internalClients = Math.max(0, internalClients - 1)
  })
  aedes.on('clientReady', client => {
    const role = roles.get(client)
    if (role === 'internal') internalClients++
    if (role !== 'vehicle') return
    const id = client.id
    if (arriving.get(id) === client) arriving.delete(id)
    const before = sessions.get(id)
    sessions.set(id, client)
    // [MQTT-3.1.4-2] one session per client id: Aedes closes the one it
    // knows, this closes one it lost track of in concurrent CONNECTs
    if (before !== undefined && before !== client) end(before)
    const sid = ++nextSid
    sids.set(client, sid)
    holdOnline(id, sid)
    opts.onSession?.({ vehicleId: id, sid, started: true })
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

  const guardLimits: GuardLimits = { connectBytes: MAX_CONNECT_BYTES, packetBytes: opts.maxPayloadBytes + MAX_TOPIC_OVERHEAD }

  // Aedes reads each chunk of a connection and hands it to its packet parser;
  // the guard sees the chunk first and closes the connection at the first
  // packet that breaks MQTT 3.1.1 or the size limits, before it is buffered.
  function handle (conn: Duplex, req?: IncomingMessage): void {
    const client = aedes.handle(conn, req)
    connections.add(client)
    conn.once('close', () => {
      connections.delete(client)
      if (roles.get(client) === 'vehicle') sessionEnded(client)
    })
    const parser = (client as unknown as { _parser: { parse: (buf: Buffer) => number } })._parser
    const parse = parser.parse.bind(parser)
    const guard = createPacketGuard(guardLimits, () => client.connected)
    let refused = false
    parser.parse = (buf) => {
      if (refused) return 0
      const v = guard.feed(buf)
      if (v === null) return parse(buf)
      refused = true
      refuse(v.reason)
      log.debug({ rule: v.rule, vehicleId: client.id }, 'connection closed: protocol violation')
      if (v.connack === undefined) {
        conn.destroy()
      } else {
        // [MQTT-3.2.2-5] a CONNACK with a non-zero code, then close; the
        // timer ends a peer that does not close its side
        conn.end(Buffer.from([0x20, 0x02, 0x00, v.connack]))
        setTimeout(() => conn.destroy(), 1000).unref()
      }
      return 0
    }
  }

  return {
    aedes,
    async listen (l) {
      await aedes.listen()
      const tcpPort = await listenOn(createNetServer(handle), l.port, l.host)
      const addresses: Addresses = { mqtt: `mqtt://${urlHost(l.host)}:${tcpPort}` }
      if (l.wsPort >= 0) {
        const http = createHttpServer((_req, res) => { res.writeHead(426).end('use MQTT over WebSocket on /mqtt') })
        const wss = new WebSocketServer({ server: http, path: '/mqtt' })
        wsServers.push(wss)
        wss.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws)
          stream.on('error', () => stream.destroy())
          handle(stream, req)
        })
        const p = await listenOn(http, l.wsPort, l.host)
        addresses.ws = `ws://${urlHost(l.host)}:${p}/mqtt`
      }
      if (l.tlsCertFile && l.tlsKeyFile) {
        const tls = createTlsServer({ cert: readFileSync(l.tlsCertFile), key: readFileSync(l.tlsKeyFile) }, handle)
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
      const a = arriving.get(vehicleId)
      const s = sessions.get(vehicleId)
      if (a) end(a)
      if (s) end(s)
    },
    takeover (vehicleId, sid) {
      const s = sessions.get(vehicleId)
      if (s === undefined || sids.get(s) !== sid) return null
      // an online record still held is the new broker's to make, if any
      const h: Handover = { status: holding.has(vehicleId) ? null : status.get(vehicleId) ?? null, tokens: limiter.budget(vehicleId) }
      takenOver.add(s)
      end(s)
      return h
    },
    handover (vehicleId, sid, h) {
      if (h?.tokens != null) limiter.absorb(vehicleId, h.tokens)
      const held = holding.get(vehicleId)
      if (held === undefined || held.sid !== sid) return
      clearTimeout(held.timer)
      holding.delete(vehicleId)
      // online elsewhere until now: stored already, not twice
      if (h?.status === true) status.set(vehicleId, true)
      else recordStatus(vehicleId, true)
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
      for (const h of holding.values()) clearTimeout(h.timer)
      holding.clear()
    }
  }
}
