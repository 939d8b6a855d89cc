// The vehicle model: same seed, same fleet; plausible motion on the roads.
import t from 'tap'
import { createVehicle, isoTimestamp, networkForSeed, step, GPS_SIGMA_M } from '../src/fleet.js'
import { distanceM, networkFromGeoJson, ROAD_LIMITS } from '../src/roads.js'
import type { Reading } from '../../schemas/types.js'

const T0 = Date.parse('2026-11-21T06:00:00Z')

function drive (seed: number, index: number, steps: number, dt: (i: number) => number): Reading[] {
  const net = networkForSeed(seed)
  const v = createVehicle(`v${index}`, index, seed, net)
  const out: Reading[] = []
  let now = T0
  for (let i = 0; i < steps; i++) {
    const d = dt(i)
    now += d * 1000
    out.push(step(v, d, now))
  }
  return out
}

t.test('same seed, same network and same readings; another seed, others', async t => {
  const a = networkForSeed(7)
  const b = networkForSeed(7)
  t.same(a.nodes, b.nodes, 'same network')
  t.ok(a.edges.length > 1000, `${a.edges.length} road segments`)
  t.same(new Set(a.edges.map(e => e.type)), new Set(['residential', 'arterial', 'highway']), 'three road types')
  const dt = (i: number): number => i % 7 === 0 ? 3 : 1
  t.same(drive(7, 3, 600, dt), drive(7, 3, 600, dt), 'identical readings')
  t.not(JSON.stringify(drive(7, 3, 50, dt)), JSON.stringify(drive(8, 3, 50, dt)), 'another seed drives elsewhere')
  t.not(JSON.stringify(drive(7, 3, 50, dt)), JSON.stringify(drive(7, 4, 50, dt)), 'another vehicle drives elsewhere')
})

t.test('timestamps exactly as Date#toISOString writes them', async t => {
  const times = [0, 1, 999, 1000, 1001, T0, T0 + 0.4, T0 + 999.999, T0 + 1000, -1, -1000.5, 253402300799999, 253402300800000, 8.64e15]
  for (let i = 0; i < 5000; i++) times.push(T0 + i * 37.3, T0 - i * 86400e3 * 7.77 + i)
  let differ = 0
  for (const ms of times) if (isoTimestamp(ms) !== new Date(ms).toISOString()) differ++
  t.equal(differ, 0, `${times.length} times, none differ`)
  t.throws(() => isoTimestamp(NaN), RangeError)
  t.throws(() => isoTimestamp(8.64e15 + 1), RangeError)
})

t.test('no teleporting, a monotone odometer, speeds within road limits, trips and parking', async t => {
  const maxKmh = ROAD_LIMITS.highway * 1.1
  let worst = -Infinity
  let parkedSeen = 0
  let ignitionCycles = 0
  let stopsWhileOn = 0
  let odoOk = true
  for (let index = 0; index < 12; index++) {
    const readings = drive(11, index, 3600, i => (i % 5) + 0.5) // 1.5 .. 4.5 s steps, about 2.5 h
    for (let i = 1; i < readings.length; i++) {
      const p = readings[i - 1] as Reading
      const r = readings[i] as Reading
      const dtS = (Date.parse(r.ts as string) - Date.parse(p.ts as string)) / 1000
      const d = distanceM(p.lat, p.lon, r.lat, r.lon)
      // at most the top speed for the interval, plus GPS noise on both ends (5 sigma each)
      worst = Math.max(worst, d - (maxKmh / 3.6 * dtS + 10 * GPS_SIGMA_M))
      if ((r.odometer_km as number) < (p.odometer_km as number)) odoOk = false
      if (p.ignition === true && r.ignition === false) ignitionCycles++
      if (r.ignition === false) parkedSeen++
      if (r.ignition === true && r.speed_kmh === 0) stopsWhileOn++
      if ((r.speed_kmh as number) > maxKmh) t.fail(`speed ${r.speed_kmh as number} km/h`)
      // odometer grows by about what the positions say, never jumps
      const odoM = ((r.odometer_km as number) - (p.odometer_km as number)) * 1000
      if (odoM > maxKmh / 3.6 * dtS + 1) t.fail(`odometer jumped ${odoM} m in ${dtS} s`)
    }
  }
  t.ok(worst <= 0, `largest jump beyond speed x time + noise: ${worst.toFixed(1)} m`)
  t.ok(odoOk, 'odometer never goes back')
  t.ok(ignitionCycles >= 12, `${ignitionCycles} ignition cycles (trips ending in parking)`)
  t.ok(parkedSeen > 0 && stopsWhileOn > 0, 'parked with ignition off, and stops with it on')
})

t.test('fuel falls while driving and is refilled', async t => {
  const net = networkForSeed(3)
  const v = createVehicle('f', 0, 3, net)
  v.fuelPct = 22
  let lowest = 100
  let refilled = false
  let prev = v.fuelPct
  for (let i = 0; i < 6 * 3600 && !refilled; i++) {
    const r = step(v, 1, T0 + i * 1000)
    lowest = Math.min(lowest, r.fuel_pct as number)
    if ((r.fuel_pct as number) > prev + 10) refilled = true
    prev = r.fuel_pct as number
  }
  t.ok(lowest < 22, 'fuel fell')
  t.ok(refilled && v.refuels >= 1, 'and was refilled')
})

t.test('roads from GeoJSON: junctions joined, types and limits from OSM tags', async t => {
  const net = networkFromGeoJson({
    type: 'FeatureCollection',
    features: [
      { type: 'Feature', properties: { highway: 'primary', maxspeed: '60' }, geometry: { type: 'LineString', coordinates: [[28.0, -26.2], [28.01, -26.2], [28.02, -26.2]] } },
      { type: 'Feature', properties: { highway: 'residential' }, geometry: { type: 'LineString', coordinates: [[28.01, -26.2], [28.01, -26.21]] } },
      { type: 'Feature', properties: { highway: 'motorway' }, geometry: { type: 'MultiLineString', coordinates: [[[28.02, -26.2], [28.03, -26.19]]] } },
      { type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: [[10, 10], [10.01, 10]] } }
    ]
  })
  t.equal(net.nodes.length, 5, 'shared vertices are one junction; the detached road is dropped')
  t.same(net.edges.map(e => [e.type, e.limitKmh]), [['arterial', 60], ['arterial', 60], ['residential', 50], ['highway', 110]])
  const v = createVehicle('g', 0, 1, net)
  let outside = 0
  for (let i = 0; i < 600; i++) {
    const r = step(v, 1, T0 + i * 1000)
    if (!(r.lat < -26.18 && r.lat > -26.22 && r.lon > 27.99 && r.lon < 28.04)) outside++
  }
  t.equal(outside, 0, 'stays on the roads given')
  t.throws(() => networkFromGeoJson({ type: 'FeatureCollection', features: [] }), /no LineString/)
})
