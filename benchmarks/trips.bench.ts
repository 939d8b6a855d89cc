// Where trips are computed, measured: a month of 1 Hz readings of one vehicle
// and one day of a fleet, written over ILP into a managed QuestDB, then
//  - GET /vehicles/{id}/trips for the month through the api (p50/p99), with
//    the configured TRIP_BUCKET_S;
//  - the same detection with other bucket sizes, and the bare cost of
//    streaming every raw reading of the month to the api (the alternative of
//    detecting over a streamed query), both over the same pg pool;
//  - GET /reports/daily for the fleet's day: the first request (every vehicle
//    computed; its readings per second extrapolate to a larger fleet), the
//    next ones (freshness check only), and one after late readings of 1 % of
//    the vehicles (only those recomputed).
// Loopback only, bounded (seeding has a deadline, a fixed number of
// requests after a warm-up); one JSON document on stdout, progress on stderr.
//
//   npm run bench -- trips [--days 30] [--fleet 1000] [--fleet-interval-s 30] [--requests 20] [--warmup 3] [--buckets 10,60,300] [--seed-deadline-s 1200]
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
import { createFastIlpEncoder } from '../gateway/src/questdb/ilp-fast-encoder.js'
import { emptyRows, type Rows } from '../gateway/src/ingest/to-rows.js'
import { runApi } from '../api/src/main.js'
import { createApiKey } from '../api/src/api-keys.js'
import { createDailyReports, vehicleTrips, type TripOptions } from '../api/src/trips/trip-query.js'
import { percentile, progress } from './harness/standalone.js'

const { values: args } = parseArgs({
  options: {
    days: { type: 'string', default: '30' },
    fleet: { type: 'string', default: '1000' },
    'fleet-interval-s': { type: 'string', default: '30' },
    requests: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    buckets: { type: 'string', default: '10,60,300' },
    'raw-requests': { type: 'string', default: '3' },
    'seed-deadline-s': { type: 'string', default: '1200' }
  }
})
const DAYS = Number(args.days)
const FLEET = Number(args.fleet)
const FLEET_STEP_S = Number(args['fleet-interval-s'])
const REQUESTS = Number(args.requests)
const WARMUP = Number(args.warmup)
const BUCKETS = args.buckets.split(',').map(Number)
const RAW_REQUESTS = Number(args['raw-requests'])
const SEED_DEADLINE = Date.now() + Number(args['seed-deadline-s']) * 1000
const DAY_S = 86400
const TRIP_ID = 'bench-month'

const vid = (v: number): string => `fleet-${String(v).padStart(5, '0')}`

function summary (times: number[]): Record<string, number> {
  const s = [...times].sort((a, b) => a - b)
  return { requests: s.length, p50_ms: +percentile(s, 50).toFixed(1), p99_ms: +percentile(s, 99).toFixed(1), max_ms: +(s[s.length - 1] as number).toFixed(1) }
}

// a working day: three trips with a red light in the first, parked in between (seconds after midnight)
const DRIVES: Array<[number, number]> = [[7 * 3600, 7 * 3600 + 2700], [12 * 3600, 12 * 3600 + 1800], [17 * 3600, 18 * 3600]]
const RED_LIGHT: [number, number] = [7 * 3600 + 1200, 7 * 3600 + 1320]

function driving (s: number, shift: number): boolean {
  const x = s - shift
  if (x >= RED_LIGHT[0] && x < RED_LIGHT[1]) return false
  return DRIVES.some(([a, b]) => x >= a && x < b)
}

const root = mkdtempSync(join(tmpdir(), 'fleetgate-trips-bench-'))
const db = await startQuestDb({ root: join(root, 'qdb') })
const log = pino({ level: 'silent' })
let exitCode = 0
try {
  // the month must stay inside the table's TTL
  await createTables(db.httpUrl, DAYS + 30)
  // whole days ending at the last midnight: every reading is in the past
  const endS = Math.floor(Date.now() / 1000 / DAY_S) * DAY_S
  const startS = endS - DAYS * DAY_S
  const writer = createIlpWriter({ httpUrl: db.httpUrl, log, flushIntervalMs: 20, maxBatchBytes: 16 * 1024 * 1024 })
  const encoder = createFastIlpEncoder()
  const inflight = new Set<Promise<void>>()
  let written = 0
  async function put (rows: Rows): Promise<void> {
    const chunk = encoder.encode(rows)
    if (!chunk) return
    const p = writer.write(chunk).finally(() => inflight.delete(p))
    inflight.add(p)
    written += rows.readings.length
    if (inflight.size >= 8) await Promise.race(inflight)
    if (Date.now() > SEED_DEADLINE) throw new Error(`seeding passed its deadline after ${written} readings`)
  }

  const t0 = Date.now()
  let rows = emptyRows()
  // one vehicle, the month at 1 Hz, with an odometer
  let km = 0
  for (let s = startS; s < endS; s++) {
    const moving = driving(s % DAY_S, 0)
    const speed = moving ? 50 + 30 * Math.sin(s / 97) : 0
    km += speed / 3600
    const tsUs = s * 1e6
    rows.readings.push({ vehicleId: TRIP_ID, tsUs, receivedUs: tsUs, reading: { ts: 0, lat: 50 + km / 1e4, lon: 10 + km / 1e3, speed_kmh: speed, odometer_km: 1000 + km, fuel_pct: 90 - (km % 800) / 10, ignition: moving } })
    if (rows.readings.length === 10000) { await put(rows); rows = emptyRows() }
    if ((s - startS) % (5 * DAY_S) === 0) progress('seeding the month', { written, seconds: (Date.now() - t0) / 1000 })
  }
  // the fleet: the last day, every vehicle at FLEET_STEP_S, in time order, each day shifted a little
  const dayS = endS - DAY_S
  const fleetKm = new Float64Array(FLEET)
  for (let s = 0; s < DAY_S; s += FLEET_STEP_S) {
    for (let v = 0; v < FLEET; v++) {
      const moving = driving(s, (v % 60) * 60)
      const speed = moving ? 40 + (v % 50) : 0
      fleetKm[v] = (fleetKm[v] as number) + speed / 3600 * FLEET_STEP_S
      const tsUs = (dayS + s) * 1e6 + v
      rows.readings.push({ vehicleId: vid(v), tsUs, receivedUs: tsUs, reading: { ts: 0, lat: -34 + (v % 100) / 10, lon: 18 + Math.floor(v / 100) / 10 + (fleetKm[v] as number) / 1e3, speed_kmh: speed, odometer_km: fleetKm[v] as number, ignition: moving } })
      if (rows.readings.length === 10000) { await put(rows); rows = emptyRows() }
    }
    if (s % 7200 === 0) progress('seeding the fleet', { written, seconds: (Date.now() - t0) / 1000 })
  }
  await put(rows)
  await Promise.all(inflight)
  await writer.close(60000)
  const client = new pg.Client({ connectionString: db.pgUrl })
  await client.connect()
  for (;;) {
    const { rows: w } = await client.query<{ writerTxn: string, sequencerTxn: string }>("SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = 'readings'")
    if (w.every(r => Number(r.writerTxn) >= Number(r.sequencerTxn))) break
    if (Date.now() > SEED_DEADLINE) throw new Error('WAL not applied before the deadline')
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  const monthRows = Number((await client.query<{ n: string }>('SELECT count() n FROM readings WHERE vehicle_id = $1', [TRIP_ID])).rows[0]?.n)
  const fleetRows = Number((await client.query<{ n: string }>("SELECT count() n FROM readings WHERE vehicle_id != 'bench-month'")).rows[0]?.n)
  await client.end()
  const seedSeconds = (Date.now() - t0) / 1000
  progress('seeded', { monthRows, fleetRows, seconds: seedSeconds })

  const dataDir = join(root, 'data')
  const config = loadConfig({}, { HTTP_HOST: '127.0.0.1', HTTP_PORT: 0, MQTT_PORT: 0, DATA_DIR: dataDir, QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, LOG_LEVEL: 'silent', API_RATE_LIMIT: 0, RETENTION_DAYS: DAYS + 30 })
  const { key } = createApiKey(dataDir, 'read')
  // a live source that never speaks and a pipeline never used: the bench reads history only
  const api = await runApi(config, log, { questdb: db, live: { subscribe: () => () => {} }, pipeline: { ingest: async () => ({ readings: 0, events: 0, rejections: [] }), quarantine: async () => {} } })
  const headers = { authorization: `Bearer ${key}` }
  const from = new Date(startS * 1000).toISOString()
  const to = new Date(endS * 1000).toISOString()

  async function timeHttp (name: string, path: string, n: number, check: (body: any) => void): Promise<Record<string, number>> {
    const times: number[] = []
    for (let i = 0; i < WARMUP + n; i++) {
      const t = performance.now()
      const res = await fetch(api.url + path, { headers })
      const text = await res.text()
      const ms = performance.now() - t
      if (res.status !== 200) throw new Error(`${name}: ${res.status} ${text.slice(0, 200)}`)
      if (i === 0) check(JSON.parse(text))
      if (i >= WARMUP) times.push(ms)
    }
    const r = summary(times)
    progress(name, r)
    return r
  }

  const expectTrips = DAYS * DRIVES.length
  const tripsHttp = await timeHttp('trips_month_http', `/api/v1/vehicles/${TRIP_ID}/trips?from=${from}&to=${to}`, REQUESTS, b => {
    if (b.trips.length !== expectTrips) throw new Error(`${b.trips.length} trips, want ${expectTrips}`)
  })

  // the alternatives, over the same pool and detection code
  const pool = new pg.Pool({ connectionString: db.pgUrl, max: 2 })
  const base: TripOptions = { start: config.TRIP_START, speedKmh: config.TRIP_SPEED_KMH, minStopS: config.TRIP_MIN_STOP_S, minTripS: config.TRIP_MIN_S, gapS: config.TRIP_GAP_S, bucketS: config.TRIP_BUCKET_S }
  const byBucket: Record<string, Record<string, number>> = {}
  for (const bucketS of BUCKETS) {
    const times: number[] = []
    let found = 0
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      const t = performance.now()
      found = (await vehicleTrips(pool, TRIP_ID, startS * 1e6, endS * 1e6, { ...base, bucketS })).trips.length
      if (i >= WARMUP) times.push(performance.now() - t)
    }
    byBucket[`${bucketS}s`] = { ...summary(times), trips_found: found }
    progress(`trips_month_bucket_${bucketS}s`, byBucket[`${bucketS}s`] as object)
  }
  // the same with every bucket fetched, not only those detection needs
  {
    const times: number[] = []
    let found = 0
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      const t = performance.now()
      found = (await vehicleTrips(pool, TRIP_ID, startS * 1e6, endS * 1e6, { ...base, allBuckets: true })).trips.length
      if (i >= WARMUP) times.push(performance.now() - t)
    }
    byBucket[`${base.bucketS}s_all_buckets`] = { ...summary(times), trips_found: found }
    progress(`trips_month_bucket_${base.bucketS}s_all_buckets`, byBucket[`${base.bucketS}s_all_buckets`] as object)
  }
  // the floor of detecting in the api over every reading: fetching them, before any detection
  const rawTimes: number[] = []
  let rawRows = 0
  for (let i = 0; i < RAW_REQUESTS; i++) {
    const t = performance.now()
    const r = await pool.query('SELECT cast(ts AS long) ts_us, lat, lon, speed_kmh, odometer_km, fuel_pct, ignition FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3', [TRIP_ID, from, to])
    rawTimes.push(performance.now() - t)
    rawRows = r.rows.length
  }
  const raw = { ...summary(rawTimes), rows: rawRows }
  progress('raw_month_fetch', raw)

  // the first daily report of the fleet's day, computed apart from the api: only the buckets that matter, and all of them
  const dayFromUs = (endS - DAY_S) * 1e6
  const coldDirect: Record<string, number> = {}
  for (const all of [false, true]) {
    const t = performance.now()
    const lines = await createDailyReports({ ...base, allBuckets: all }).lines(pool, dayFromUs, dayFromUs + DAY_S * 1e6)
    coldDirect[all ? 'all_buckets_ms' : 'changes_only_ms'] = +(performance.now() - t).toFixed(1)
    if (lines.length !== FLEET + 1) throw new Error(`${lines.length} daily lines`)
  }
  progress('daily_fleet_cold_direct', coldDirect)
  await pool.end()

  // the daily report: the first request computes every vehicle; later ones
  // only check freshness; after late readings of a few vehicles, only those recompute
  const date = new Date(dayS * 1000).toISOString().slice(0, 10)
  const dailyPath = `/api/v1/reports/daily?date=${date}`
  const once = async (): Promise<number> => {
    const t = performance.now()
    const res = await fetch(api.url + dailyPath, { headers })
    const body = await res.json() as { vehicles: unknown[] }
    if (res.status !== 200 || body.vehicles.length !== FLEET + 1) throw new Error(`daily: ${res.status}, ${body.vehicles?.length} vehicles, want ${FLEET + 1}`)
    return performance.now() - t
  }
  const dailyCold = await once()
  progress('daily_fleet_cold', { ms: dailyCold })
  const warm: number[] = []
  for (let i = 0; i < Math.max(3, Math.ceil(REQUESTS / 4)); i++) warm.push(await once())
  const dailyWarm = summary(warm)
  progress('daily_fleet_warm', dailyWarm)
  const LATE = Math.max(1, Math.ceil(FLEET / 100))
  const late = emptyRows()
  for (let v = 0; v < LATE; v++) {
    const tsUs = (dayS + 3 * 3600) * 1e6 + v + 1
    late.readings.push({ vehicleId: vid(v), tsUs, receivedUs: Date.now() * 1000, reading: { ts: 0, lat: -34, lon: 18, speed_kmh: 0, ignition: false } })
  }
  const lateWriter = createIlpWriter({ httpUrl: db.httpUrl, log, flushIntervalMs: 20, maxBatchBytes: 1024 * 1024 })
  const lateChunk = encoder.encode(late)
  if (lateChunk) await lateWriter.write(lateChunk)
  await lateWriter.close(60000)
  const lateClient = new pg.Client({ connectionString: db.pgUrl })
  await lateClient.connect()
  for (let i = 0; i < 600; i++) {
    const { rows: w } = await lateClient.query<{ writerTxn: string, sequencerTxn: string }>("SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = 'readings'")
    if (w.every(r => Number(r.writerTxn) >= Number(r.sequencerTxn))) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  await lateClient.end()
  const dailyLate = await once()
  progress('daily_fleet_after_late', { ms: dailyLate, late_vehicles: LATE })
  await api.close()
  const dayRows = fleetRows + DAY_S
  process.stdout.write(JSON.stringify({
    bench: 'trips',
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, loadavg_1m: loadavg()[0], shared: true },
    questdb: db.version,
    seed: { month_readings: monthRows, fleet_vehicles: FLEET, fleet_interval_s: FLEET_STEP_S, fleet_readings: fleetRows, total_seconds: seedSeconds },
    config: base,
    results: {
      trips_month_http: tripsHttp,
      trips_month_by_bucket: byBucket,
      raw_month_fetch: raw,
      daily_report_http: {
        vehicles: FLEET + 1,
        day_readings: dayRows,
        cold_ms: +dailyCold.toFixed(1),
        cold_direct: coldDirect,
        cold_readings_per_second: Math.round(dayRows / dailyCold * 1000),
        warm: dailyWarm,
        after_late_ms: +dailyLate.toFixed(1),
        late_vehicles: LATE
      }
    }
  }, null, 2) + '\n')
} catch (err) {
  progress('failed', { err: String((err as Error).stack ?? err) })
  exitCode = 1
} finally {
  await db.stop()
  rmSync(root, { recursive: true, force: true })
}
process.exit(exitCode)
