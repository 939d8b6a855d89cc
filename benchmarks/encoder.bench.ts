// ILP encoding cost per row: the official client's buffer against the
// hand-written ilp-fast-encoder.ts (what the gateway uses), on simulated
// readings, one reading per call (one MQTT message) and 100 per call (a
// batch); protocol 1 (doubles as text) and protocol 2 (doubles as binary).
// And the MQTT packet guard's cost per packet (`guard`) on a stream of QoS 1
// telemetry PUBLISH packets, as 64 KiB reads and as one packet per read.
import mqttPacket from 'mqtt-packet'
import { createPacketGuard } from '../gateway/src/broker/packet-guard.js'
import { createIlpEncoder } from './peers/ilp-client-encoder.js'
import type { IlpEncoder } from '../gateway/src/index.js'
import { createFastIlpEncoder } from '../gateway/src/questdb/ilp-fast-encoder.js'
import { emptyRows, type Rows } from '../gateway/src/ingest/to-rows.js'
import { createVehicle, networkForSeed, step } from '../simulator/src/fleet.js'

export interface EncoderResult {
  rows: number
  officialUsPerRow: { single: number, batch100: number }
  fastUsPerRow: { single: number, batch100: number }
  speedup: { single: number, batch100: number }
  /** protocol 2 */
  official2UsPerRow: { single: number, batch100: number }
  fast2UsPerRow: { single: number, batch100: number }
  /** bytes per row, protocol 1 and 2 */
  bytesPerRow: { v1: number, v2: number }
  guard: GuardResult
}

export interface GuardResult {
  packets: number
  /** bytes of one PUBLISH packet, on average (header, topic, packet id, payload) */
  bytesPerPacket: number
  /** ns per packet: the stream cut into 64 KiB chunks (packets straddle them), and one packet per chunk */
  nsPerPacket: { chunk64k: number, onePerChunk: number }
}

function makeRows (n: number, perCall: number): Rows[] {
  const net = networkForSeed(1)
  const vehicles = Array.from({ length: 100 }, (_, i) => createVehicle(`bench-${i}`, i, 1, net))
  const out: Rows[] = []
  let rows = emptyRows()
  const t0 = Date.now() * 1000
  for (let i = 0; i < n; i++) {
    const v = vehicles[i % vehicles.length] as ReturnType<typeof createVehicle>
    const reading = step(v, 1, t0 / 1000 + i)
    rows.readings.push({ vehicleId: v.id, tsUs: t0 + i * 1000, receivedUs: t0 + i * 1000 + 7, reading })
    if (rows.readings.length === perCall) { out.push(rows); rows = emptyRows() }
  }
  return out
}

function time (enc: IlpEncoder, calls: Rows[], rows: number, rounds: number): number {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now()
    let bytes = 0
    for (const c of calls) bytes += enc.encode(c)?.length ?? 0
    const us = (performance.now() - t0) * 1000 / rows
    if (bytes === 0) throw new Error('nothing encoded')
    best = Math.min(best, us)
  }
  return Math.round(best * 1000) / 1000
}

/** The byte stream of one vehicle connection: a CONNECT, then QoS 1 PUBLISH packets of simulated readings. */
function guardStream (n: number): { connect: Buffer, publishes: Buffer[] } {
  const net = networkForSeed(1)
  const v = createVehicle('bench-0001', 1, 1, net)
  const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: v.id, keepalive: 60, username: v.id, password: Buffer.from('fgt_' + 'x'.repeat(43)) })
  const t0 = Date.now()
  const topic = `fleet/${v.id}/telemetry`
  const publishes = Array.from({ length: n }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic, qos: 1, dup: false, retain: false, messageId: (i % 65535) + 1, payload: Buffer.from(JSON.stringify(step(v, 1, t0 + i * 1000))) }))
  return { connect, publishes }
}

/** ns per packet to feed `chunks` (after the CONNECT) through a fresh guard: the best of `rounds`. */
function timeGuard (connect: Buffer, chunks: Buffer[], packets: number, rounds: number): number {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    let connected = false
    const guard = createPacketGuard({ connectBytes: 1024, packetBytes: 65536 + 1024 }, () => connected)
    if (guard.feed(connect) !== null) throw new Error('the guard refused the CONNECT')
    connected = true
    const t0 = process.hrtime.bigint()
    for (const c of chunks) if (guard.feed(c) !== null) throw new Error('the guard refused a PUBLISH')
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / packets)
  }
  return Math.round(best * 10) / 10
}

export function runGuard ({ packets = 200000 }: { packets?: number } = {}): GuardResult {
  const { connect, publishes } = guardStream(packets)
  const all = Buffer.concat(publishes)
  const chunks: Buffer[] = []
  for (let i = 0; i < all.length; i += 65536) chunks.push(all.subarray(i, i + 65536))
  timeGuard(connect, chunks, packets, 2); timeGuard(connect, publishes, packets, 2)
  return {
    packets,
    bytesPerPacket: Math.round(all.length / packets),
    nsPerPacket: { chunk64k: timeGuard(connect, chunks, packets, 5), onePerChunk: timeGuard(connect, publishes, packets, 5) }
  }
}

export async function runEncoder ({ rows = 100000 }: { rows?: number } = {}): Promise<EncoderResult> {
  const single = makeRows(rows, 1)
  const batch = makeRows(rows, 100)
  const official = createIlpEncoder()
  const fast = createFastIlpEncoder()
  // warm-up, then the best of five rounds
  time(official, single, rows, 2); time(fast, single, rows, 2)
  const o1 = time(official, single, rows, 5)
  const f1 = time(fast, single, rows, 5)
  const o100 = time(official, batch, rows, 5)
  const f100 = time(fast, batch, rows, 5)
  const official2 = createIlpEncoder({ protocolVersion: 2 })
  const fast2 = createFastIlpEncoder({ protocolVersion: 2 })
  time(official2, single, rows, 2); time(fast2, single, rows, 2)
  const o2 = { single: time(official2, single, rows, 5), batch100: time(official2, batch, rows, 5) }
  const f2 = { single: time(fast2, single, rows, 5), batch100: time(fast2, batch, rows, 5) }
  const perRow = (enc: IlpEncoder): number => Math.round(batch.reduce((n, c) => n + (enc.encode(c)?.length ?? 0), 0) / rows)
  const r = (x: number): number => Math.round(x * 10) / 10
  return {
    rows,
    officialUsPerRow: { single: o1, batch100: o100 },
    fastUsPerRow: { single: f1, batch100: f100 },
    speedup: { single: r(o1 / f1), batch100: r(o100 / f100) },
    official2UsPerRow: o2,
    fast2UsPerRow: f2,
    bytesPerRow: { v1: perRow(fast), v2: perRow(fast2) },
    guard: runGuard()
  }
}
