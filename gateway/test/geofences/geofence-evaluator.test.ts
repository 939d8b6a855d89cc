// Crossings decided per vehicle in reading-time order: enter, exit, dwell,
// late readings, batches out of order, deleted geofences.
import t from 'tap'
import type { Geofence } from '../../../schemas/types.js'
import type { ReadingRow } from '../../src/ingest/to-rows.js'
import { createGeofenceEvaluator } from '../../src/geofences/geofence-evaluator.js'
import { createGeofenceIndex, type GeofenceIndex } from '../../src/geofences/geofence-index.js'

const box: Geofence = { id: 'depot', name: 'Depot', labels: [], updated_at: '2026-01-01T00:00:00Z', geometry: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] } }
const T0 = 1_800_000_000_000_000

function at (s: number, lon: number, id = 'v1', speed?: number): ReadingRow {
  return { vehicleId: id, tsUs: T0 + s * 1e6, receivedUs: T0 + s * 1e6, reading: { ts: '', lat: 0.5, lon, ...(speed !== undefined ? { speed_kmh: speed } : {}) } }
}

function setup (dwellS = 0): { index: { current: GeofenceIndex }, ev: ReturnType<typeof createGeofenceEvaluator> } {
  const index = { current: createGeofenceIndex([box]) }
  return { index, ev: createGeofenceEvaluator({ index: () => index.current, dwellS }) }
}

const types = (alerts: Array<{ type: string }>): string[] => alerts.map(a => a.type)

t.test('through a polygon: one enter, one exit, at the crossing readings', async t => {
  const { ev } = setup()
  t.same(ev.evaluate([at(0, -1)]), [])
  const enter = ev.evaluate([at(10, 0.5)])
  t.same(types(enter), ['geofence_enter'])
  t.equal(enter[0]?.tsUs, T0 + 10e6)
  t.same(ev.evaluate([at(20, 0.6)]), [], 'still inside')
  const exit = ev.evaluate([at(30, 2)])
  t.match(exit, [{ type: 'geofence_exit', geofenceId: 'depot', geofenceName: 'Depot', tsUs: T0 + 30e6 }])
})

t.test('a batch out of order is decided in reading-time order', async t => {
  const { ev } = setup()
  const alerts = ev.evaluate([at(30, 2), at(10, 0.5), at(0, -1), at(20, 0.6)])
  t.same(types(alerts), ['geofence_enter', 'geofence_exit'])
  t.same(alerts.map(a => a.tsUs), [T0 + 10e6, T0 + 30e6])
})

t.test('a late reading makes no false pair, a redelivered one no second alert', async t => {
  const { ev } = setup()
  ev.evaluate([at(0, 0.5)])
  // a backlog reading from before, outside: not used for crossings
  t.same(ev.evaluate([at(-10, 2)]), [])
  t.same(ev.evaluate([at(0, 0.5)]), [], 'the same reading again')
  t.equal(ev.late(), 2)
  t.same(ev.evaluate([at(10, 0.5)]), [], 'still inside: no enter again')
})

t.test('dwell once after GEOFENCE_DWELL_S inside', async t => {
  const { ev } = setup(60)
  t.same(types(ev.evaluate([at(0, 0.5)])), ['geofence_enter'])
  t.same(ev.evaluate([at(59, 0.5)]), [])
  t.same(types(ev.evaluate([at(60, 0.5)])), ['geofence_dwell'])
  t.same(ev.evaluate([at(120, 0.5)]), [], 'once')
  t.same(types(ev.evaluate([at(130, 5)])), ['geofence_exit'])
})

t.test('a deleted geofence is forgotten without an exit; vehicles are apart', async t => {
  const { ev, index } = setup()
  t.same(types(ev.evaluate([at(0, 0.5, 'a')])), ['geofence_enter'])
  t.same(types(ev.evaluate([at(0, 0.5, 'b')])), ['geofence_enter'])
  index.current = createGeofenceIndex([])
  t.same(ev.evaluate([at(10, 0.5, 'a')]), [])
  t.same(ev.state.get('a')?.inside.size, 0)
  index.current = createGeofenceIndex([box])
  t.same(types(ev.evaluate([at(20, 0.5, 'a')])), ['geofence_enter'], 'inside a geofence made again: a new enter')
})

t.test('overspeed: once per stretch above a geofence\'s speed limit', async t => {
  const limited: Geofence = { ...box, id: 'school', name: 'School', speed_limit_kmh: 30 }
  const ev = createGeofenceEvaluator({ index: () => createGeofenceIndex([limited]), dwellS: 0 })
  t.same(types(ev.evaluate([at(0, 0.5, 'v', 45)])), ['geofence_enter', 'overspeed'], 'entering too fast')
  t.same(ev.evaluate([at(10, 0.5, 'v', 50)]), [], 'still too fast: no second alert')
  t.same(ev.evaluate([at(20, 0.5, 'v', 30)]), [], 'at the limit')
  t.match(ev.evaluate([at(30, 0.5, 'v', 31)]), [{ type: 'overspeed', geofenceId: 'school', speedKmh: 31 }], 'a new stretch')
  t.same(types(ev.evaluate([at(40, 5, 'v', 90)])), ['geofence_exit'], 'outside: an exit, no overspeed')
})
