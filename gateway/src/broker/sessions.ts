// Sessions by vehicle: `arriving` from accepted credentials to CONNACK,
// `sessions` from CONNACK to the socket's close. The gateway records a
// vehicle online when its first session starts and offline when its last
// one ends; a takeover (a new CONNECT of the same id, here or at a broker
// beside this one) is not an end.
import type { Client } from 'aedes'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { vehicleTopic } from '../../../schemas/topics.js'
import type { Pipeline } from '../ingest/pipeline.js'
import type { RateLimiter } from './rate-limit.js'

/** What a broker that lost a vehicle's session to another hands over to it. */
export interface Handover {
  /** The last status this broker stored for the vehicle (null: none yet). */
  status: boolean | null
  /** The vehicle's rate-limit budget (null: full). */
  tokens: number | null
}

/** true for "online", false for "offline", null for anything else (as to-rows.ts reads a status). */
export function statusWord (payload: Buffer | string): boolean | null {
  const text = payload.toString().trim()
  return text === 'online' ? true : text === 'offline' ? false : null
}

/** Ends a client's connection whatever state its session is in. */
export function endConnection (client: Client): void {
  client.close()
  ;(client as unknown as { conn: Duplex }).conn.destroy()
}

export interface SessionOptions {
  log: Logger
  pipeline: Pipeline
  /** As BrokerOptions.onSession. */
  onSession?: ((event: { vehicleId: string, sid: number, started: boolean }) => void) | undefined
  /** As BrokerOptions.holdOnlineMs. */
  holdOnlineMs?: (() => number) | undefined
  limiter: RateLimiter
}

export interface Sessions {
  /** A vehicle's credentials were accepted (authenticate). */
  accepted: (client: Client) => void
  /** A vehicle's session started (CONNACK sent). */
  ready: (client: Client) => void
  /** A vehicle's connection closed. */
  ended: (client: Client) => void
  /** The last status stored for the vehicle, whoever said it. */
  storedStatus: (vehicleId: string) => boolean | undefined
  statusStored: (vehicleId: string, up: boolean) => void
  disconnect: (vehicleId: string) => void
  takeover: (vehicleId: string, sid: number) => Handover | null
  handover: (vehicleId: string, sid: number, h: Handover | null) => void
  close: () => void
}

export function createSessions (opts: SessionOptions): Sessions {
  const { log, pipeline, limiter } = opts
  const arriving = new Map<string, Client>()
  const sessions = new Map<string, Client>()
  // the last status stored per vehicle, whoever said it (the session, the
  // vehicle, its Will): a repeat of it is not stored again
  const status = new Map<string, boolean>()
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

  function recordStatus (vehicleId: string, up: boolean): void {
    if (status.get(vehicleId) === up) return
    status.set(vehicleId, up)
    pipeline.ingest(vehicleId, 'status', vehicleTopic(vehicleId, 'status'), Buffer.from(up ? 'online' : 'offline'))
      .catch((err: unknown) => { log.warn({ err, vehicleId }, 'session status not recorded') })
  }

  return {
    accepted (client) {
      // the newest CONNECT of an id wins: an older one still connecting is
      // closed, so Aedes never registers two sessions of one id at once
      const id = client.id
      const before = arriving.get(id)
      arriving.set(id, client)
      if (before !== undefined && before !== client) endConnection(before)
    },
    ready (client) {
      const id = client.id
      if (arriving.get(id) === client) arriving.delete(id)
      const before = sessions.get(id)
      sessions.set(id, client)
      // [MQTT-3.1.4-2] one session per client id: Aedes closes the one it
      // knows, this closes one it lost track of in concurrent CONNECTs
      if (before !== undefined && before !== client) endConnection(before)
      const sid = ++nextSid
      sids.set(client, sid)
      holdOnline(id, sid)
      opts.onSession?.({ vehicleId: id, sid, started: true })
    },
    ended (client) {
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
    },
    storedStatus: vehicleId => status.get(vehicleId),
    statusStored (vehicleId, up) { status.set(vehicleId, up) },
    disconnect (vehicleId) {
      const a = arriving.get(vehicleId)
      const s = sessions.get(vehicleId)
      if (a) endConnection(a)
      if (s) endConnection(s)
    },
    takeover (vehicleId, sid) {
      const s = sessions.get(vehicleId)
      if (s === undefined || sids.get(s) !== sid) return null
      // an online record still held is the new broker's to make, if any
      const h: Handover = { status: holding.has(vehicleId) ? null : status.get(vehicleId) ?? null, tokens: limiter.budget(vehicleId) }
      takenOver.add(s)
      endConnection(s)
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
    close () {
      for (const h of holding.values()) clearTimeout(h.timer)
      holding.clear()
    }
  }
}
