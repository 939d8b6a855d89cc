// API latency against a QuestDB holding millions of readings: p50/p99 of one
// page of raw readings, of a 24 h track at 1 Hz downsampled to 1,000 points,
// and of GET /vehicles over the whole fleet. Loopback only, bounded (seeding
// has a deadline; each endpoint gets a fixed number of requests after a
// warm-up), one JSON document on stdout; progress on stderr.
//
//   npm run bench -- api [--vehicles 10000] [--per-vehicle 1000] [--requests 200] [--warmup 20] [--seed-deadline-s 900]
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import pg from 'pg'
import { startQuestDb } from '../lib/questdb/managed.js'
import { loadConfig } from '../schemas/config.js'
import { createTables } from '../gateway/src/questdb/tables.js'
import { createIlpWriter } from '../gateway/src/questdb/ilp-writer.js'
import { createIlpEncoder } from './peers/ilp-client-encoder.js'
import { emptyRows } from '../gateway/src/ingest/to-rows.js'
import { runApi } from '../api/src/main.js'
import { createApiKey } from '../api/src/api-keys.js'
import { percentile, progress } from './harness/standalone.js'

const { values: args } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '10000' },
    'per-vehicle': { type: 'string', default: '1000' },
    requests: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    'seed-deadline-s': { type: 'string', default: '900' }
  }
})
const VEHICLES = Number(args.vehicles)
const PER_VEHICLE = Number(args['per-vehicle'])
const REQUESTS = Number(args.requests)
const WARMUP = Number(args.warmup)
const SEED_DEADLINE = Date.now() + Number(args['seed-deadline-s']) * 1000
const DAY_US = 86400e6
const TRACK_ID = 'bench-track'

const vid = (v: number): string => `bench-${String(v).padStart(5, '0')}`

const root = mkdtempSync(join(tmpdir(), 'fleetgate-api-bench-'))
const db = await startQuestDb({ root: join(root, 'qdb') })
const log = pino({ level: 'silent' })
let exitCode = 0
try {
  await createTables(db.httpUrl, 30)
  // 24 h ending an hour ago: every reading is inside the retention window, the range crosses a partition
  const endUs = Math.floor(Date.now() / 1000) * 1000 * 1000 - 3600e6
  const startUs = endUs - DAY_US

  const writer = createIlpWriter({ httpUrl: db.httpUrl, log, flushIntervalMs: 20, maxBatchBytes: 16 * 1024 * 1024 })
  const encoder = createIlpEncoder()
  const inflight = new Set<Promise<void>>()
  let written = 0
  async function put (rows: ReturnType<typeof emptyRows>): Promise<void> {
    const chunk = encoder.encode(rows)
    if (!chunk) return
    const p = writer.write(chunk).finally(() => inflight.delete(p))
    inflight.add(p)
    written += rows.readings.length
    if (inflight.size >= 8) await Promise.race(inflight)
    if (Date.now() > SEED_DEADLINE) throw new Error(`seeding passed its deadline after ${written} readings`)
  }
  const reading = (i: number, lat: number, lon: number) => ({ ts: 0, seq: i, lat, lon, speed_kmh: (i * 7) % 120, heading_deg: (i * 13) % 360, fuel_pct: 90 - (i % 80), engine_temp_c: 85 + (i % 10) })

  const t0 = Date.now()
  // the track vehicle: 24 h at 1 Hz
  let rows = emptyRows()
  for (let s = 0; s < 86400; s++) {
    rows.readings.push({ vehicleId: TRACK_ID, tsUs: startUs + s * 1e6, receivedUs: startUs + s * 1e6, reading: reading(s, -26 + s / 1e5, 28 + s / 1e5) })
    if (rows.readings.length === 10000) { await put(rows); rows = emptyRows() }
  }
  // the fleet: PER_VEHICLE readings each, evenly over the 24 h, in time order
  const stepUs = Math.floor(DAY_US / PER_VEHICLE)
  const slotUs = Math.max(1, Math.floor(stepUs / VEHICLES))
  for (let k = 0; k < PER_VEHICLE; k++) {
    for (let v = 0; v < VEHICLES; v++) {
      const ts = startUs + k * stepUs + v * slotUs
      rows.readings.push({ vehicleId: vid(v), tsUs: ts, receivedUs: ts, reading: reading(k, -34 + (v % 100) / 10 + k / 1e4, 18 + Math.floor(v / 100) / 10 + k / 1e4) })
      if (rows.readings.length === 10000) { await put(rows); rows = emptyRows() }
    }
    if (k % 100 === 0) progress('seeding', { written, seconds: (Date.now() - t0) / 1000 })
  }
  await put(rows)
  await Promise.all(inflight)
  const sentSeconds = (Date.now() - t0) / 1000
  await writer.close(60000)
  progress('sent, waiting for the WAL', { written, seconds: sentSeconds })

  const client = new pg.Client({ connectionString: db.pgUrl })
  await client.connect()
  for (;;) {
    const { rows: w } = await client.query<{ writerTxn: string, sequencerTxn: string }>("SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = 'readings'")
    if (w.every(r => Number(r.writerTxn) >= Number(r.sequencerTxn))) break
    if (Date.now() > SEED_DEADLINE) throw new Error('WAL not applied before the deadline')
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  const stored = Number((await client.query<{ n: string }>('SELECT count() n FROM readings')).rows[0]?.n)
  await client.end()
  const seedSeconds = (Date.now() - t0) / 1000
  progress('seeded', { stored, seconds: seedSeconds })

  const dataDir = join(root, 'data')
  const config = loadConfig({}, { HTTP_HOST: '127.0.0.1', HTTP_PORT: 0, MQTT_PORT: 0, DATA_DIR: dataDir, QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, LOG_LEVEL: 'silent', API_RATE_LIMIT: 0 })
  const { key } = createApiKey(dataDir, 'read')
  // a live source that never speaks: the bench measures history only
  const api = await runApi(config, log, { questdb: db, live: { subscribe: () => () => {} }, pipeline: { ingest: async () => ({ readings: 0, events: 0, rejections: [] }), quarantine: async () => {} } })
  const headers = { authorization: `Bearer ${key}` }
  const from = new Date(startUs / 1000).toISOString()
  const to = new Date(endUs / 1000).toISOString()

  async function measure (name: string, path: (i: number) => string, check: (body: any) => void): Promise<Record<string, number>> {
    const times: number[] = []
    let bytes = 0
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      const t = performance.now()
      const res = await fetch(api.url + path(i), { headers })
      const text = await res.text()
      const ms = performance.now() - t
      if (res.status !== 200) throw new Error(`${name}: ${res.status} ${text.slice(0, 200)}`)
      if (i === 0) check(JSON.parse(text))
      if (i >= WARMUP) { times.push(ms); bytes += text.length }
    }
    times.sort((a, b) => a - b)
    const r = { requests: REQUESTS, p50_ms: +percentile(times, 50).toFixed(2), p99_ms: +percentile(times, 99).toFixed(2), max_ms: +(times[times.length - 1] as number).toFixed(2), mean_bytes: Math.round(bytes / REQUESTS) }
    progress(name, r)
    return r
  }

  const results = {
    readings_page: await measure('readings_page', i => `/api/v1/vehicles/${vid((i * 7919) % VEHICLES)}/readings?from=${from}&to=${to}&limit=1000`, b => { if (b.readings.length !== Math.min(1000, PER_VEHICLE)) throw new Error(`page of ${b.readings.length}`) }),
    track_24h_1hz_to_1000: await measure('track', () => `/api/v1/vehicles/${TRACK_ID}/track?from=${from}&to=${to}&max_points=1000`, b => { if (b.points.length > 1000 || b.points.length < 900) throw new Error(`track of ${b.points.length}`) }),
    vehicles: await measure('vehicles', () => '/api/v1/vehicles', b => { if (b.vehicles.length !== VEHICLES + 1) throw new Error(`${b.vehicles.length} vehicles`) })
  }
  await api.close()
  process.stdout.write(JSON.stringify({
    bench: 'api',
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, loadavg_1m: loadavg()[0], shared: true },
    questdb: db.version,
    seed: { readings: stored, vehicles: VEHICLES + 1, track_readings: 86400, send_seconds: sentSeconds, total_seconds: seedSeconds, rows_per_second: Math.round(stored / seedSeconds) },
    results
  }, null, 2) + '\n')
} catch (err) {
  progress('failed', { err: String((err as Error).stack ?? err) })
  exitCode = 1
} finally {
  await db.stop()
  rmSync(root, { recursive: true, force: true })
}
process.exit(exitCode)
