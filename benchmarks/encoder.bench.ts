// ILP encoding cost per row: the official client's buffer against the
// hand-written ilp-fast-encoder.ts (what the gateway uses), on simulated
// readings, one reading per call (one MQTT message) and 100 per call (a
// batch); protocol 1 (doubles as text) and protocol 2 (doubles as binary).
import { createIlpEncoder, type IlpEncoder } from '../gateway/src/questdb/ilp-encoder.js'
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
    bytesPerRow: { v1: perRow(fast), v2: perRow(fast2) }
  }
}
