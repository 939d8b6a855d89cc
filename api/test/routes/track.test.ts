// GET /vehicles/:id/track (SAMPLE BY in QuestDB) and /vehicles/:id/events on
// a real QuestDB seeded through POST and MQTT.
import t from 'tap'
import { startApiStack, call, ingest, conforms, publish, RFC3339_MICROS } from '../fixture.js'
import { pollCount } from '../../../test/helper.js'
import { bucketFor, trackSql } from '../../src/queries/readings-sql.js'

const DAY = 86400e3
const HOURS = 6
const iso = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z')

t.test('bucket arithmetic never gives more than max_points buckets', async t => {
  for (const [rangeS, max] of [[86400, 1000], [60, 1000], [3600, 7], [86400 * 31, 10000], [1, 2], [86400, 2]] as const) {
    const b = bucketFor(rangeS * 1e6, max)
    t.ok(Math.ceil(rangeS / b.seconds) <= max, `${rangeS}s / ${max} -> ${b.n}${b.unit}`)
    t.equal(b.seconds, b.n * { s: 1, m: 60, h: 3600, d: 86400 }[b.unit])
  }
  t.same(bucketFor(86400e6, 1000), { n: 87, unit: 's', seconds: 87 })
  t.same(bucketFor(86400e6, 24), { n: 1, unit: 'h', seconds: 3600 })
  t.throws(() => trackSql(1.5, 's'))
  t.throws(() => trackSql(1, 's; DROP TABLE readings' as 's'))
  t.throws(() => trackSql(0, 's'))
})

t.test('track and events', async t => {
  const s = await startApiStack(t)
  // HOURS at 1 Hz across a midnight (two partitions), ending well in the past
  const midnight = Math.floor(Date.now() / DAY) * DAY - DAY
  const start = midnight - (HOURS / 2) * 3600e3
  const n = HOURS * 3600
  const readings = Array.from({ length: n }, (_, i) => ({ ts: start + i * 1000, lat: -26 + i / 1e5, lon: 28 + i / 1e5, speed_kmh: i % 100, heading_deg: 90, fuel_pct: 80 - i / 1000, engine_temp_c: 80 + (i % 10) }))
  t.equal(await ingest(s, 'trk-1', readings), n)
  const ev = [
    { ts: new Date(start + 1000).toISOString(), type: 'ignition_on' },
    { ts: new Date(start + 5000).toISOString(), type: 'harsh_brake', lat: -26, lon: 28, data: { g: 0.6 } },
    { ts: new Date(start + 5000).toISOString(), type: 'overspeed', data: { limit: 80 } },
    { ts: new Date(start + 9000).toISOString(), type: 'ignition_off' }
  ]
  await publish(t, s, 'trk-1', 'events', [JSON.stringify(ev)])
  await pollCount(s.pgUrl, 'SELECT count() n FROM readings', n)
  await pollCount(s.pgUrl, 'SELECT count() n FROM events', ev.length)
  const from = new Date(start).toISOString()
  const to = new Date(start + n * 1000).toISOString()

  t.test('JSON: the shape the map page uses, at most max_points', async t => {
    for (const max of [1000, 100, 7, 2]) {
      const r = await call(s, `/api/v1/vehicles/trk-1/track?from=${from}&to=${to}&max_points=${max}`, { key: s.keys.read })
      t.equal(r.status, 200)
      conforms(t, 'track', r.body)
      t.same(Object.keys(r.body), ['vehicle_id', 'from', 'to', 'bucket', 'points'])
      t.ok(r.body.points.length <= max && r.body.points.length > max * 0.9 - 1, `${r.body.points.length} points for max_points=${max} (bucket ${r.body.bucket})`)
      t.same(Object.keys(r.body.points[0]), ['ts', 'lat', 'lon', 'speed_kmh', 'heading_deg', 'fuel_pct', 'engine_temp_c'])
      t.ok(r.body.points.every((p: { ts: string }) => RFC3339_MICROS.test(p.ts)))
    }
    const r = await call(s, `/api/v1/vehicles/trk-1/track?from=${from}&to=${to}&max_points=${HOURS * 60}`, { key: s.keys.read })
    t.equal(r.body.bucket, '1m')
    t.equal(r.body.from, new Date(start).toISOString().replace('Z', '000Z'))
    const first = r.body.points[0]
    t.equal(first.ts, iso(start + 59000), 'buckets aligned to from: the first ends with the 60th reading, and the point is stamped with its time')
    t.equal(first.lat, readings[59]?.lat, 'last position of the bucket')
    t.equal(first.engine_temp_c, 89, 'highest engine temperature of the bucket')
    t.equal(first.speed_kmh, (Array.from({ length: 60 }, (_, i) => i).reduce((a, b) => a + b) / 60), 'mean speed of the bucket')
    const days = new Set(r.body.points.map((p: { ts: string }) => p.ts.slice(0, 10)))
    t.equal(days.size, 2, 'across a partition boundary')
  })

  t.test("a point's time and values describe the same reading, never a time before the first one", async t => {
    // ranges that start before the first reading, with buckets that begin before it (the 24 h one has 144 min buckets)
    const cases = [
      { from: start - 3 * 3600e3, to: start + 21 * 3600e3, max: 10 },
      { from: start - 1800e3, to: start + n * 1000, max: 7 },
      { from: start, to: start + n * 1000, max: 100 }
    ]
    for (const c of cases) {
      const r = await call(s, `/api/v1/vehicles/trk-1/track?from=${iso(c.from)}&to=${iso(c.to)}&max_points=${c.max}`, { key: s.keys.read })
      t.equal(r.status, 200)
      const unitS = { s: 1, m: 60, h: 3600, d: 86400 }[r.body.bucket.slice(-1) as 's' | 'm' | 'h' | 'd']
      const bucketMs = unitS * Number(r.body.bucket.slice(0, -1)) * 1000
      const mismatched = []
      let lastBucket = -1
      for (const p of r.body.points as Array<{ ts: string, lat: number, lon: number, heading_deg: number, fuel_pct: number }>) {
        const tsMs = Date.parse(p.ts)
        const i = (tsMs - start) / 1000
        const reading = readings[i]
        // the last reading of its bucket: the next one (if any) falls into the next bucket
        const bucket = Math.floor((tsMs - c.from) / bucketMs)
        const next = readings[i + 1]
        const isLast = next === undefined || next.ts >= c.to || Math.floor((next.ts - c.from) / bucketMs) > bucket
        if (!reading || reading.lat !== p.lat || reading.lon !== p.lon || reading.fuel_pct !== p.fuel_pct || !isLast || bucket <= lastBucket) mismatched.push(p)
        lastBucket = bucket
      }
      t.same(mismatched, [], `${r.body.points.length} points (bucket ${r.body.bucket}): each is the time, position and fuel level of its bucket's last reading`)
      t.ok(Date.parse(r.body.points[0].ts) >= start, `the first point (${r.body.points[0].ts as string}) is not before the first reading (${iso(start)})`)
    }
  })

  t.test('GeoJSON, GPX, CSV', async t => {
    const q = `from=${from}&to=${to}&max_points=50`
    const geo = await call(s, `/api/v1/vehicles/trk-1/track?${q}&format=geojson`, { key: s.keys.read })
    t.match(geo.headers.get('content-type'), /^application\/geo\+json/)
    t.equal(geo.body.type, 'FeatureCollection')
    t.equal(geo.body.features[0].geometry.type, 'LineString')
    t.equal(geo.body.features[0].geometry.coordinates.length, 50)
    t.same(geo.body.features[0].geometry.coordinates[0], [readings[431]?.lon, readings[431]?.lat], '[lon, lat] order')
    const gpx = await call(s, `/api/v1/vehicles/trk-1/track?${q}&format=gpx`, { key: s.keys.read })
    t.match(gpx.headers.get('content-type'), /^application\/gpx\+xml/)
    t.match(gpx.text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<gpx version="1.1"/)
    t.equal(gpx.text.match(/<trkpt /g)?.length, 50)
    const csv = await call(s, `/api/v1/vehicles/trk-1/track?${q}&format=csv`, { key: s.keys.read })
    t.match(csv.headers.get('content-type'), /^text\/csv/)
    const lines = csv.text.trim().split('\r\n')
    t.equal(lines[0], 'ts,lat,lon,speed_kmh,heading_deg,fuel_pct,engine_temp_c')
    t.equal(lines.length, 51)
    const bad = await call(s, `/api/v1/vehicles/trk-1/track?${q}&format=kml`, { key: s.keys.read })
    t.equal(bad.status, 400)
  })

  t.test('edges', async t => {
    const empty = await call(s, `/api/v1/vehicles/trk-1/track?from=${new Date(start - 3600e3).toISOString()}&to=${new Date(start).toISOString()}`, { key: s.keys.read })
    t.equal(empty.status, 200)
    t.same(empty.body.points, [], 'empty range')
    const nobody = await call(s, `/api/v1/vehicles/nobody/track?from=${from}&to=${to}`, { key: s.keys.read })
    t.same(nobody.body.points, [], 'a vehicle with no data')
    const emptyGeo = await call(s, `/api/v1/vehicles/nobody/track?from=${from}&to=${to}&format=geojson`, { key: s.keys.read })
    t.same(emptyGeo.body, { type: 'FeatureCollection', features: [] })
    for (const q of ['max_points=1', 'max_points=10001', 'max_points=abc', 'from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z']) {
      const r = await call(s, `/api/v1/vehicles/trk-1/track?${q}`, { key: s.keys.read })
      t.equal(r.status, 400, q)
    }
    // the default range (the last 24 h) is empty here
    const def = await call(s, '/api/v1/vehicles/trk-1/track', { key: s.keys.read })
    t.equal(def.status, 200)
  })

  t.test('events: range, type, pagination on (ts, type)', async t => {
    const r = await call(s, `/api/v1/vehicles/trk-1/events?from=${from}&to=${to}`, { key: s.keys.read })
    t.equal(r.status, 200)
    conforms(t, 'event-list', r.body)
    t.same(r.body.events.map((e: { type: string }) => e.type), ['ignition_on', 'harsh_brake', 'overspeed', 'ignition_off'])
    t.same(r.body.events[1].data, { g: 0.6 })
    t.equal(r.body.events[1].lat, -26)
    const typed = await call(s, `/api/v1/vehicles/trk-1/events?from=${from}&to=${to}&type=overspeed`, { key: s.keys.read })
    t.same(typed.body.events.map((e: { type: string }) => e.type), ['overspeed'])
    const types: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const p: { body: { events: Array<{ type: string }>, next_cursor: string | null } } = await call(s, `/api/v1/vehicles/trk-1/events?from=${from}&to=${to}&limit=1${cursor ? `&cursor=${cursor}` : ''}`, { key: s.keys.read })
      types.push(...p.body.events.map(e => e.type))
      cursor = p.body.next_cursor
    } while (cursor && ++pages < 10)
    t.same(types, ['ignition_on', 'harsh_brake', 'overspeed', 'ignition_off'], 'two events at one instant are both paged through')
    const badType = await call(s, `/api/v1/vehicles/trk-1/events?type=${encodeURIComponent("overspeed' OR '1'='1")}`, { key: s.keys.read })
    t.equal(badType.status, 400)
    const none = await call(s, `/api/v1/vehicles/nobody/events?from=${from}&to=${to}`, { key: s.keys.read })
    t.same(none.body.events, [])
  })
})
