// Fault injection: messages the gateway must quarantine sent in place of a
// reading, duplicates, wrong-token connects, offline spells. All draws come
// from the run's fault RNG, in the order the run asks, so a seed replays the
// same faults.
import type { Reading } from '../../schemas/types.js'
import { ConnectRefusedError, LeanClient, type LeanConnectOptions } from './lean-client.js'

/** Each a probability per reading (wrongToken: per vehicle, one refused attempt before its real connect). */
export interface FaultRates {
  malformed?: number
  schema?: number
  duplicate?: number
  future?: number
  foreignTopic?: number
  wrongToken?: number
}

export interface OfflineOptions {
  /** Spells per vehicle-hour. */
  perHour: number
  minS: number
  maxS: number
}

export type FaultKind = 'invalid_json' | 'schema' | 'future_ts' | 'id_mismatch' | 'duplicate' | 'wrong_token'
/** The faults the gateway must quarantine, with the reason it records. */
export const QUARANTINED: ReadonlyArray<Exclude<FaultKind, 'duplicate' | 'wrong_token'>> = ['invalid_json', 'schema', 'future_ts', 'id_mismatch']

/** A well-formed token that no device holds. */
const WRONG_TOKEN = 'fgt_' + 'x'.repeat(43)

/** The vehicle a fault is sent from. */
export interface FaultSource { index: number, topic: string, client: LeanClient }

export interface FaultOptions<S extends FaultSource> {
  rates: FaultRates
  offline: OfflineOptions | undefined
  rng: () => number
  qos: 0 | 1
  /** Sends a reading as the run counts it. */
  sendReading: (s: S, reading: Reading, tsMs: number) => void
  /** The topic of another vehicle than s (for a foreign-topic fault), if the fleet has one. */
  foreignTopic: (s: S) => string | undefined
  /** A fault message or duplicate was not sent. */
  onError: () => void
}

export interface FaultInjector<S extends FaultSource> {
  /** By kind: the faults sent. */
  readonly counts: Record<FaultKind, number>
  /** Fault messages acknowledged, by the reason the gateway must record. */
  readonly quarantinedAcked: Record<string, number>
  /** Wrong-token connects the broker refused. */
  wrongTokenRefused: () => number
  /** Draws whether a vehicle first tries a wrong token. */
  drawWrongToken: () => boolean
  /** One connect with a wrong token; a refusal is counted. */
  intrude: (connect: (password: string) => LeanConnectOptions) => Promise<void>
  /** Draws whether an offline spell starts after dtS seconds: its length in ms, or null. */
  offlineSpellMs: (dtS: number) => number | null
  /** Sends the reading, a fault in its place, or the reading and a duplicate of it. */
  send: (s: S, reading: Reading, tsMs: number) => void
}

export function createFaultInjector<S extends FaultSource> (o: FaultOptions<S>): FaultInjector<S> {
  const { rates, rng, qos } = o
  const counts: Record<FaultKind, number> = { invalid_json: 0, schema: 0, future_ts: 0, id_mismatch: 0, duplicate: 0, wrong_token: 0 }
  const quarantinedAcked: Record<string, number> = { invalid_json: 0, schema: 0, future_ts: 0, id_mismatch: 0 }
  let wrongTokenRefused = 0

  function publishFault (s: S, kind: Exclude<FaultKind, 'duplicate' | 'wrong_token'>, topic: string, payload: string): void {
    counts[kind]++
    s.client.publish(topic, payload, qos, err => {
      if (err) { o.onError(); return }
      quarantinedAcked[kind] = (quarantinedAcked[kind] ?? 0) + 1
    })
  }

  return {
    counts,
    quarantinedAcked,
    wrongTokenRefused: () => wrongTokenRefused,
    drawWrongToken: () => (rates.wrongToken ?? 0) > 0 && rng() < (rates.wrongToken ?? 0),
    async intrude (connect) {
      counts.wrong_token++
      const intruder = new LeanClient(1)
      try {
        await intruder.connect(connect(WRONG_TOKEN))
        await intruder.end()
      } catch (err) {
        if (err instanceof ConnectRefusedError) wrongTokenRefused++
      }
    },
    offlineSpellMs (dtS) {
      const off = o.offline
      if (off && off.perHour > 0 && rng() < off.perHour * dtS / 3600) return (off.minS + rng() * (off.maxS - off.minS)) * 1000
      return null
    },
    send (s, reading, tsMs) {
      // one draw picks at most one fault: r falls below 0 in the rate's share of [0, 1)
      // (no closure here: one per reading showed in the profile)
      let r = rng()
      let foreign: string | undefined
      if ((r -= rates.malformed ?? 0) < 0) {
        publishFault(s, 'invalid_json', s.topic, JSON.stringify(reading).slice(0, -9))
      } else if ((r -= rates.schema ?? 0) < 0) {
        publishFault(s, 'schema', s.topic, JSON.stringify({ ...reading, lat: 95.5 }))
      } else if ((r -= rates.future ?? 0) < 0) {
        publishFault(s, 'future_ts', s.topic, JSON.stringify({ ...reading, ts: new Date(tsMs + 3600e3).toISOString() }))
      } else if ((r -= rates.foreignTopic ?? 0) < 0 && (foreign = o.foreignTopic(s)) !== undefined) {
        publishFault(s, 'id_mismatch', foreign, JSON.stringify(reading))
      } else {
        o.sendReading(s, reading, tsMs)
        if ((r -= rates.duplicate ?? 0) < 0) {
          counts.duplicate++
          s.client.publish(s.topic, JSON.stringify(reading), qos, err => { if (err) o.onError() })
        }
      }
    }
  }
}
