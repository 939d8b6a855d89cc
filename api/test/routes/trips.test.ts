// Trips, stops and the daily report on a real QuestDB: a generated day with
// known trips, stops, a data gap and a short move, ingested through the real
// path; then a late backlog that fills the gap and must change the answer.
import t, { type Test } from 'tap'
import { startApiStack, call, conforms, ingest, type ApiStack } from '../fixture.js'
import { pollCount, startQuestDbForTest } from '../../../test/helper.js'
import { fleetBucketsSql, vehicleBucketsSql } from '../../src/trips/trip-sql.js'

const DAY = 86400e3
const H = 3600
const M = 60
const STEP_S = 2
const SPEED = 60
const LAT = 50

type Phase = [fromS: number, toS: number, state: 'drive' | 'idle' | 'park' | 'none']
// one day of one vehicle, seconds after midnight
const PLAN: Phase[] = [
  [0, 6 * H, 'park'],
  [6 * H, 6 * H + 20 * M, 'drive'],
  [6 * H + 20 * M, 6 * H + 22 * M, 'idle'], // a red light: stays inside the trip
  [6 * H + 22 * M, 6 * H + 40 * M, 'drive'],
  [6 * H + 40 * M, 6 * H + 55 * M, 'idle'], // idling at the start of a stop
  [6 * H + 55 * M, 8 * H, 'park'],
  [8 * H, 9 * H, 'drive'],
  [9 * H, 10 * H + 30 * M, 'none'], // offline: longer than TRIP_GAP_S
  [10 * H + 30 * M, 11 * H, 'drive'],
  [11 * H, 12 * H, 'park'],
  [12 * H, 12 * H + 3 * M, 'drive'], // shorter than TRIP_MIN_S: dropped
  [12 * H + 3 * M, 24 * H, 'park']
]

interface Gen { readings: Array<Record<string, unknown>>, backlog: Array<Record<string, unknown>> }

/** The day's readings; the offline spell is driven too, returned apart as the late backlog. */
function generate (midnight: number, odometer: boolean): Gen {
  const kmPerDegLon = 111.32 * Math.cos(LAT * Math.PI / 180)
  const out: Gen = { readings: [], backlog: [] }
  let km = 0
  for (const [from, to, state] of PLAN) {
    for (let s = from; s < to; s += STEP_S) {
      const moving = state === 'drive' || state === 'none'
      const r: Record<string, unknown> = {
        ts: midnight + s * 1000,
        lat: LAT,
        lon: 10 + km / kmPerDegLon,
        speed_kmh: moving ? SPEED : 0,
        ignition: state !== 'park',
        fuel_pct: 80 - km / 10
      }
      if (odometer) r.odometer_km = 1000 + km
      ;(state === 'none' ? out.backlog : out.readings).push(r)
      if (moving) km += SPEED / 3600 * STEP_S
    }
  }
  return out
}

const near = (t: Test, got: string, wantMs: number, what: string, tolS = 30): void => {
  t.ok(Math.abs(Date.parse(got) - wantMs) <= tolS * 1000, `${what}: ${got} within ${tolS} s of ${new Date(wantMs).toISOString()}`)
}

async function load (t: Test, s: ApiStack, id: string, rows: unknown[], total: number): Promise<void> {
  t.equal(await ingest(s, id, rows), rows.length)
  await pollCount(s.pgUrl, 'SELECT count() n FROM readings WHERE vehicle_id = $1', total, 120000, [id])
}

t.test('the SQL takes the bucket only as a checked integer', async t => {
  t.throws(() => vehicleBucketsSql(0, 'speed'))
  t.throws(() => vehicleBucketsSql(1.5, 'speed'))
  t.throws(() => fleetBucketsSql(Number.NaN, 'ignition', 1))
  t.throws(() => fleetBucketsSql(60, 'speed', 0))
  t.match(fleetBucketsSql(60, 'speed', 2), /IN \(\$4, \$5\)/)
  t.match(fleetBucketsSql(60, 'ignition', 1), /IN \(\$3\)/)
  t.match(vehicleBucketsSql(60, 'ignition'), /SAMPLE BY 60s/)
})

t.test('on one real QuestDB', async t => {
  const db = await startQuestDbForTest(t)

  await t.test('trips, stops and the daily report of a known day', async t => {
    const s = await startApiStack(t, {}, db)
    const midnight = Math.floor(Date.now() / DAY) * DAY - DAY
    const at = (sec: number): number => midnight + sec * 1000
    const date = new Date(midnight).toISOString().slice(0, 10)
    const range = `from=${new Date(midnight).toISOString()}&to=${new Date(midnight + DAY).toISOString()}`
    const a = generate(midnight, true)
    const b = generate(midnight, false)
    await load(t, s, 'trip-a', a.readings, a.readings.length)
    await load(t, s, 'trip-b', b.readings, b.readings.length)

    t.equal((await call(s, `/api/v1/vehicles/trip-a/trips?${range}`, { key: null })).status, 401, 'a key is required')
    const r = await call(s, `/api/v1/vehicles/trip-a/trips?${range}`, { key: s.keys.read })
    t.equal(r.status, 200)
    conforms(t, 'trip-list', r.body)
    const want = [[6 * H, 6 * H + 40 * M, 38], [8 * H, 9 * H, 60], [10 * H + 30 * M, 11 * H, 30]] as const
    t.equal(r.body.trips.length, want.length, 'three trips: the red light stays inside, the gap splits, the short move is dropped')
    want.forEach(([from, to, km], i) => {
      const trip = r.body.trips[i]
      if (!trip) return
      near(t, trip.start, at(from), `trip ${i} start`)
      near(t, trip.end, at(to), `trip ${i} end`)
      t.ok(Math.abs(trip.distance_km - km) < 0.2, `trip ${i} odometer distance ${trip.distance_km} ~ ${km}`)
      t.equal(trip.distance_source, 'odometer')
      t.equal(trip.max_speed_kmh, SPEED)
      t.ok(Math.abs(trip.avg_speed_kmh - km / ((to - from) / H)) < 2, `trip ${i} average speed ${trip.avg_speed_kmh}`)
      t.ok(Math.abs(trip.fuel_used_pct - km / 10) < 0.1, `trip ${i} fuel used ${trip.fuel_used_pct}`)
      t.ok(Math.abs(trip.start_lat - LAT) < 1e-9 && trip.end_lon > trip.start_lon, `trip ${i} runs east`)
    })

    const st = await call(s, `/api/v1/vehicles/trip-a/stops?${range}`, { key: s.keys.read })
    t.equal(st.status, 200)
    conforms(t, 'stop-list', st.body)
    const wantStops = [[0, 6 * H, 0], [6 * H + 40 * M, 8 * H, 15 * M], [11 * H, 24 * H, 0]] as const
    t.equal(st.body.stops.length, wantStops.length, 'three stops; none across the data gap')
    wantStops.forEach(([from, to, idle], i) => {
      const stop = st.body.stops[i]
      if (!stop) return
      near(t, stop.start, at(from), `stop ${i} start`)
      near(t, stop.end, at(to), `stop ${i} end`)
      t.ok(Math.abs(stop.idle_s - idle) <= 90, `stop ${i} idled ${stop.idle_s} s ~ ${idle}`)
      t.equal(stop.ignition, false, `stop ${i} mostly with the ignition off`)
    })

    // without an odometer: the track's length
    const rb = await call(s, `/api/v1/vehicles/trip-b/trips?${range}`, { key: s.keys.read })
    t.same(rb.body.trips.map((x: { distance_source: string }) => x.distance_source), ['track', 'track', 'track'])
    want.forEach(([, , km], i) => { t.ok(Math.abs(rb.body.trips[i]?.distance_km - km) < km * 0.01, `trip ${i} track distance ${rb.body.trips[i]?.distance_km} ~ ${km}`) })
    t.equal(rb.body.trips[0]?.fuel_used_pct !== null, true)

    const csv = await call(s, `/api/v1/vehicles/trip-a/trips?${range}&format=csv`, { key: s.keys.read })
    t.match(csv.headers.get('content-type'), /^text\/csv/)
    const lines = csv.text.trim().split('\r\n')
    t.equal(lines[0], 'start,end,start_lat,start_lon,end_lat,end_lon,duration_s,distance_km,distance_source,max_speed_kmh,avg_speed_kmh,fuel_used_pct')
    t.equal(lines.length, 4)
    t.equal(lines[1]?.split(',')[0], r.body.trips[0]?.start)
    const stopsCsv = await call(s, `/api/v1/vehicles/trip-a/stops?${range}&format=csv`, { key: s.keys.read })
    t.equal(stopsCsv.text.trim().split('\r\n').length, 4)

    const rep = await call(s, `/api/v1/reports/daily?date=${date}`, { key: s.keys.read })
    t.equal(rep.status, 200)
    conforms(t, 'daily-report', rep.body)
    t.same(rep.body.vehicles.map((v: { vehicle_id: string }) => v.vehicle_id), ['trip-a', 'trip-b'])
    const va = rep.body.vehicles[0]
    t.equal(va.trips, 3)
    t.equal(va.stops, 3)
    t.ok(Math.abs(va.distance_km - 128) < 0.5, `daily distance ${va.distance_km}`)
    t.ok(Math.abs(va.driving_s - (40 + 60 + 30) * M) < 120, `driving ${va.driving_s} s`)
    t.ok(Math.abs(va.idling_s - 15 * M) < 90, `idling ${va.idling_s} s`)
    t.equal(va.max_speed_kmh, SPEED)
    const one = await call(s, `/api/v1/reports/daily?date=${date}&vehicle_id=trip-a&format=csv`, { key: s.keys.read })
    t.equal(one.text.trim().split('\r\n').length, 2, 'one vehicle asked, one line')
    t.equal((await call(s, '/api/v1/reports/daily?date=yesterday', { key: s.keys.read })).status, 400)

    // the offline spell arrives hours later: the gap is gone, two trips become one
    await load(t, s, 'trip-a', a.backlog, a.readings.length + a.backlog.length)
    const late = await call(s, `/api/v1/vehicles/trip-a/trips?${range}`, { key: s.keys.read })
    t.equal(late.body.trips.length, 2, 'the backlog joins the trips around the gap')
    near(t, late.body.trips[1]?.start, at(8 * H), 'joined trip start')
    near(t, late.body.trips[1]?.end, at(11 * H), 'joined trip end')
    t.ok(Math.abs(late.body.trips[1]?.distance_km - 180) < 0.5, `joined distance ${late.body.trips[1]?.distance_km}`)
    // the daily report computed before the backlog is not served stale
    const lateRep = await call(s, `/api/v1/reports/daily?date=${date}`, { key: s.keys.read })
    const la = lateRep.body.vehicles[0]
    t.equal(la.trips, 2, 'the report counts the joined trip')
    t.ok(Math.abs(la.distance_km - 218) < 0.5, `daily distance with the backlog ${la.distance_km}`)
    t.same(lateRep.body.vehicles[1], rep.body.vehicles[1], 'the vehicle without late data keeps its line')
  })

  await t.test('TRIP_START=ignition: the trip starts with the engine, before the wheels turn', async t => {
    const s = await startApiStack(t, { TRIP_START: 'ignition' }, db)
    const midnight = Math.floor(Date.now() / DAY) * DAY - DAY
    const at = (sec: number): number => midnight + sec * 1000
    const rows: Array<Record<string, unknown>> = []
    // parked until 08:00, engine warming up 5 min, driving until 08:30, parked until 10:00
    for (let sec = 7 * H; sec < 10 * H; sec += STEP_S) {
      const engine = sec >= 8 * H && sec < 8 * H + 30 * M
      const wheels = sec >= 8 * H + 5 * M && sec < 8 * H + 30 * M
      rows.push({ ts: at(sec), lat: LAT, lon: 10 + (wheels ? (sec - 8 * H) / 1e5 : 0), speed_kmh: wheels ? 40 : 0, ignition: engine })
    }
    await load(t, s, 'trip-ign', rows, rows.length)
    const range = `from=${new Date(at(6 * H)).toISOString()}&to=${new Date(at(11 * H)).toISOString()}`
    const r = await call(s, `/api/v1/vehicles/trip-ign/trips?${range}`, { key: s.keys.read })
    t.equal(r.status, 200)
    t.equal(r.body.trips.length, 1)
    near(t, r.body.trips[0]?.start, at(8 * H), 'starts with the ignition')
    near(t, r.body.trips[0]?.end, at(8 * H + 30 * M), 'ends with the ignition')
    const st = await call(s, `/api/v1/vehicles/trip-ign/stops?${range}`, { key: s.keys.read })
    t.same(st.body.stops.map((x: { idle_s: number }) => x.idle_s), [0, 0], 'no stop idles when the ignition makes the trip')
  })
})
