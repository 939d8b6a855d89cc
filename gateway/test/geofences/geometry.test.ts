// Geometry checks beyond the schema, boxes and the exact containment test.
import t from 'tap'
import type { GeofenceGeometry } from '../../../schemas/types.js'
import { bboxOf, contains, distanceM, geometryProblem, selfIntersection } from '../../src/geofences/geometry.js'

const square: GeofenceGeometry = { type: 'Polygon', coordinates: [[[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]] }

t.test('valid geometries pass', async t => {
  t.equal(geometryProblem(square, 10000), null)
  t.equal(geometryProblem({ type: 'MultiPolygon', coordinates: [square.coordinates as never, [[[14, 52], [14.1, 52], [14.1, 52.1], [14, 52]]]] }, 10000), null)
  t.equal(geometryProblem({ type: 'Point', coordinates: [13.4, 52.5], radius_m: 250 }, 10000), null)
  // a hole inside the outer ring
  t.equal(geometryProblem({ type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[2, 2], [2, 4], [4, 4], [4, 2], [2, 2]]] }, 10000), null)
  // repeated consecutive positions are tolerated
  t.equal(geometryProblem({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] }, 10000), null)
})

t.test('an unclosed ring', async t => {
  const p = geometryProblem({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] }, 10000)
  t.equal(p?.code, 'API_ERR_GEOFENCE_RING_NOT_CLOSED')
  t.match(p?.detail, /\/geometry\/coordinates\/0: the ring is not closed/)
})

t.test('a self-intersecting ring (bow tie) and a touching one', async t => {
  const bowTie = geometryProblem({ type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] }, 10000)
  t.equal(bowTie?.code, 'API_ERR_GEOFENCE_SELF_INTERSECTION')
  t.match(bowTie?.detail, /crosses itself/)
  // a vertex lying on a non-adjacent edge
  const touching = geometryProblem({ type: 'Polygon', coordinates: [[[0, 0], [4, 0], [4, 4], [2, 0], [0, 4], [0, 0]]] }, 10000)
  t.equal(touching?.code, 'API_ERR_GEOFENCE_SELF_INTERSECTION')
  const inMulti = geometryProblem({ type: 'MultiPolygon', coordinates: [square.coordinates as never, [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]] }, 10000)
  t.match(inMulti, { code: 'API_ERR_GEOFENCE_SELF_INTERSECTION', detail: /\/geometry\/coordinates\/1\/0/ })
})

t.test('a large ring is checked quickly enough to finish, and crossings in it are found', async t => {
  // a circle of 9,000 vertices: valid
  const ring: number[][] = []
  for (let i = 0; i < 9000; i++) ring.push([Math.cos(2 * Math.PI * i / 9000), Math.sin(2 * Math.PI * i / 9000)])
  ring.push(ring[0] as number[])
  t.equal(selfIntersection(ring), null)
  // swap two far-apart vertices: edges now cross
  const bad = ring.map(p => [...p]);
  [bad[100], bad[4000]] = [bad[4000] as number[], bad[100] as number[]]
  t.not(selfIntersection(bad), null)
})

t.test('too many vertices', async t => {
  const ring: number[][] = []
  for (let i = 0; i < 50; i++) ring.push([Math.cos(2 * Math.PI * i / 50), Math.sin(2 * Math.PI * i / 50)])
  ring.push(ring[0] as number[])
  const g = { type: 'Polygon', coordinates: [ring] } as unknown as GeofenceGeometry
  t.equal(geometryProblem(g, 51), null)
  t.match(geometryProblem(g, 50), { code: 'API_ERR_GEOFENCE_TOO_MANY_VERTICES', detail: /51 vertices; at most 50/ })
})

t.test('coordinates out of range and a bad radius', async t => {
  t.match(geometryProblem({ type: 'Polygon', coordinates: [[[0, 0], [181, 0], [1, 1], [0, 0]]] }, 10000), { code: 'API_ERR_GEOFENCE_COORDINATE_RANGE', detail: /\/geometry\/coordinates\/0\/1: longitude 181/ })
  t.match(geometryProblem({ type: 'Point', coordinates: [0, -91], radius_m: 5 }, 10000), { code: 'API_ERR_GEOFENCE_COORDINATE_RANGE', detail: /latitude -91/ })
  t.match(geometryProblem({ type: 'Point', coordinates: [0, 0], radius_m: 0 }, 10000), { code: 'API_ERR_GEOFENCE_BAD_RADIUS' })
})

t.test('containment: polygon with a hole, circle by great-circle distance', async t => {
  const holed: GeofenceGeometry = { type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[2, 2], [2, 4], [4, 4], [4, 2], [2, 2]]] }
  t.ok(contains(holed, 1, 1))
  t.notOk(contains(holed, 3, 3), 'in the hole')
  t.notOk(contains(holed, 11, 1))
  const circle: GeofenceGeometry = { type: 'Point', coordinates: [13.4, 52.5], radius_m: 1000 }
  // 0.008 degrees of latitude is about 890 m; 0.01 about 1112 m
  t.ok(contains(circle, 13.4, 52.508))
  t.notOk(contains(circle, 13.4, 52.51))
  t.ok(Math.abs(distanceM(0, 0, 0, 1) - 111195) < 10, 'one degree of latitude')
  const [minLon, minLat, maxLon, maxLat] = bboxOf(circle)
  t.ok(minLat < 52.4911 && maxLat > 52.5089 && minLon < 13.3855 && maxLon > 13.4145, 'the box holds the circle')
})
