// Ceiling 1: QuestDB's ILP/HTTP ingest from one Node process through the
// gateway's own writer (ilp-writer.ts, one request in flight), rows made by
// the fast encoder so that encoding takes as little of the one core as can be.
// The rows confirmed by 2xx per second, over a bounded run.
import { pino } from 'pino'
import { createIlpWriter } from '../gateway/src/questdb/ilp-writer.js'
import { createFastIlpEncoder } from '../gateway/src/questdb/ilp-fast-encoder.js'
import { createTables } from '../gateway/src/questdb/tables.js'
import { emptyRows } from '../gateway/src/ingest/to-rows.js'
import { count, waitWalApplied } from '../lib/questdb/sql.js'

export interface IlpResult { durationS: number, rowsConfirmed: number, rowsPerS: number, mbPerS: number, rowsInTable: number }

export async function runIlp (db: { httpUrl: string, pgUrl: string }, { durationS = 10, vehicles = 1000, rowsPerChunk = 100 } = {}): Promise<IlpResult> {
  await createTables(db.httpUrl, 30)
  const writer = createIlpWriter({ httpUrl: db.httpUrl, log: pino({ level: 'silent' }), flushIntervalMs: 50, maxBatchBytes: 4194304 })
  const enc = createFastIlpEncoder()
  const ids = Array.from({ length: vehicles }, (_, i) => `ilp-${i}`)
  const baseUs = (Date.now() - 3600e3) * 1000
  let i = 0
  function chunk (): Buffer {
    const rows = emptyRows()
    for (let k = 0; k < rowsPerChunk; k++, i++) {
      const v = i % vehicles
      const tsUs = baseUs + Math.floor(i / vehicles) * 1000 + v
      rows.readings.push({ vehicleId: ids[v] as string, tsUs, receivedUs: tsUs + 5, reading: { ts: '', seq: i, lat: -26.2 + v * 1e-5, lon: 28.04 + (i % 997) * 1e-6, speed_kmh: 50.5, heading_deg: 181.2, odometer_km: 12345.678, fuel_pct: 55.5, engine_temp_c: 90.1, battery_v: 13.9, rpm: 2100, ignition: true } })
    }
    return enc.encode(rows) as Buffer
  }
  // warm-up: a couple of seconds not counted
  const warm: Promise<void>[] = []
  const warmEnd = Date.now() + 2000
  while (Date.now() < warmEnd) {
    while (writer.pendingBytes() < 16 * 1048576 && Date.now() < warmEnd) warm.push(writer.write(chunk()))
    await new Promise(resolve => setImmediate(resolve))
  }
  await Promise.all(warm)
  let confirmed = 0
  let bytes = 0
  const pending = new Set<Promise<void>>()
  const t0 = performance.now()
  const end = Date.now() + durationS * 1000
  while (Date.now() < end) {
    while (writer.pendingBytes() < 16 * 1048576 && Date.now() < end) {
      const c = chunk()
      const p = writer.write(c).then(() => { if (Date.now() <= end) { confirmed += rowsPerChunk; bytes += c.length } pending.delete(p) })
      pending.add(p)
    }
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  const s = (performance.now() - t0) / 1000
  await Promise.all(pending)
  await writer.close()
  await waitWalApplied(db.pgUrl, 120000)
  const rowsInTable = await count(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id LIKE 'ilp-%'")
  return { durationS: Math.round(s * 10) / 10, rowsConfirmed: confirmed, rowsPerS: Math.round(confirmed / s), mbPerS: Math.round(bytes / s / 1048576 * 10) / 10, rowsInTable }
}
