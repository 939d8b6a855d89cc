// A geofence's geometry: what the JSON Schema cannot check (closed rings,
// rings that cross themselves, the vertex limit, coordinate ranges), its
// bounding box for the spatial index, and the exact containment test.
// Positions are GeoJSON's [lon, lat] in degrees; geofences are not expected
// to cross the antimeridian (their boxes are not split there).
import booleanPointInPolygon from '@turf/boolean-point-in-polygon'
import type { GeofenceGeometry } from '../../../schemas/types.js'

export type GeometryErrorCode =
  | 'API_ERR_GEOFENCE_RING_NOT_CLOSED'
  | 'API_ERR_GEOFENCE_SELF_INTERSECTION'
  | 'API_ERR_GEOFENCE_TOO_MANY_VERTICES'
  | 'API_ERR_GEOFENCE_COORDINATE_RANGE'
  | 'API_ERR_GEOFENCE_BAD_RADIUS'

export interface GeometryProblem {
  code: GeometryErrorCode
  /** Says where (a JSON pointer into the geometry) and what to fix. */
  detail: string
}

/** [minLon, minLat, maxLon, maxLat] */
export type BBox = [number, number, number, number]

type Pos = readonly number[]
type Ring = readonly Pos[]

const EARTH_RADIUS_M = 6371008.8
const M_PER_DEG_LAT = Math.PI * EARTH_RADIUS_M / 180

function polygonsOf (g: GeofenceGeometry): Array<readonly Ring[]> {
  if (g.type === 'Polygon') return [g.coordinates]
  if (g.type === 'MultiPolygon') return g.coordinates
  return []
}

function rangeProblem (p: Pos, at: string): GeometryProblem | null {
  const [lon, lat] = p as [number, number]
  if (!Number.isFinite(lon) || lon < -180 || lon > 180) return { code: 'API_ERR_GEOFENCE_COORDINATE_RANGE', detail: `${at}: longitude ${lon} is outside -180..180 (positions are [lon, lat])` }
  if (!Number.isFinite(lat) || lat < -90 || lat > 90) return { code: 'API_ERR_GEOFENCE_COORDINATE_RANGE', detail: `${at}: latitude ${lat} is outside -90..90 (positions are [lon, lat])` }
  return null
}

/** The first problem of a geometry that already matches geofence-geometry.schema.json, or null. */
export function geometryProblem (g: GeofenceGeometry, maxVertices: number): GeometryProblem | null {
  if (g.type === 'Point') {
    if (!(g.radius_m > 0) || !Number.isFinite(g.radius_m)) return { code: 'API_ERR_GEOFENCE_BAD_RADIUS', detail: `/geometry/radius_m must be a number above 0 (got ${g.radius_m})` }
    return rangeProblem(g.coordinates, '/geometry/coordinates')
  }
  const polygons = polygonsOf(g)
  let vertices = 0
  for (const rings of polygons) for (const ring of rings) vertices += ring.length
  if (vertices > maxVertices) return { code: 'API_ERR_GEOFENCE_TOO_MANY_VERTICES', detail: `the geometry has ${vertices} vertices; at most ${maxVertices} are allowed (GEOFENCE_MAX_VERTICES)` }
  for (let p = 0; p < polygons.length; p++) {
    const rings = polygons[p] as readonly Ring[]
    for (let r = 0; r < rings.length; r++) {
      const ring = rings[r] as Ring
      const at = g.type === 'Polygon' ? `/geometry/coordinates/${r}` : `/geometry/coordinates/${p}/${r}`
      for (let i = 0; i < ring.length; i++) {
        const bad = rangeProblem(ring[i] as Pos, `${at}/${i}`)
        if (bad) return bad
      }
      const first = ring[0] as Pos
      const last = ring[ring.length - 1] as Pos
      if (first[0] !== last[0] || first[1] !== last[1]) return { code: 'API_ERR_GEOFENCE_RING_NOT_CLOSED', detail: `${at}: the ring is not closed; its last position must equal its first ([${first[0]}, ${first[1]}])` }
      const crossing = selfIntersection(ring)
      if (crossing) return { code: 'API_ERR_GEOFENCE_SELF_INTERSECTION', detail: `${at}: the ring crosses itself (edges ${crossing[0]} and ${crossing[1]})` }
    }
  }
  return null
}

/** Orientation of c against the line a->b: >0 left, <0 right, 0 collinear. */
function orient (a: Pos, b: Pos, c: Pos): number {
  return ((b[0] as number) - (a[0] as number)) * ((c[1] as number) - (a[1] as number)) - ((b[1] as number) - (a[1] as number)) * ((c[0] as number) - (a[0] as number))
}

function onSegment (a: Pos, b: Pos, c: Pos): boolean {
  return Math.min(a[0] as number, b[0] as number) <= (c[0] as number) && (c[0] as number) <= Math.max(a[0] as number, b[0] as number) &&
    Math.min(a[1] as number, b[1] as number) <= (c[1] as number) && (c[1] as number) <= Math.max(a[1] as number, b[1] as number)
}

function segmentsMeet (p1: Pos, p2: Pos, q1: Pos, q2: Pos): boolean {
  const d1 = orient(q1, q2, p1)
  const d2 = orient(q1, q2, p2)
  const d3 = orient(p1, p2, q1)
  const d4 = orient(p1, p2, q2)
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true
  return (d1 === 0 && onSegment(q1, q2, p1)) || (d2 === 0 && onSegment(q1, q2, p2)) ||
    (d3 === 0 && onSegment(p1, p2, q1)) || (d4 === 0 && onSegment(p1, p2, q2))
}

/**
 * Two non-adjacent edges of a closed ring that meet, or null. Edges are swept
 * in order of their smallest longitude, so only edges whose longitude ranges
 * overlap are compared (a ring at the vertex limit stays quick to check).
 */
export function selfIntersection (ring: Ring): [number, number] | null {
  // repeated consecutive positions are harmless; without them every edge has a length
  const pts: Pos[] = []
  for (const p of ring) {
    const prev = pts[pts.length - 1]
    if (!prev || prev[0] !== p[0] || prev[1] !== p[1]) pts.push(p)
  }
  const m = pts.length - 1
  if (m < 3) return m < 1 ? null : [0, 0]
  const order = Array.from({ length: m }, (_, i) => i)
  const minX = (i: number): number => Math.min(pts[i]?.[0] as number, pts[i + 1]?.[0] as number)
  const maxX = (i: number): number => Math.max(pts[i]?.[0] as number, pts[i + 1]?.[0] as number)
  order.sort((a, b) => minX(a) - minX(b))
  for (let x = 0; x < m; x++) {
    const i = order[x] as number
    const end = maxX(i)
    for (let y = x + 1; y < m; y++) {
      const j = order[y] as number
      if (minX(j) > end) break
      const lo = Math.min(i, j)
      const hi = Math.max(i, j)
      // adjacent edges share a vertex, the first and last edges the closing one
      if (hi - lo === 1 || (lo === 0 && hi === m - 1)) continue
      if (segmentsMeet(pts[i] as Pos, pts[i + 1] as Pos, pts[j] as Pos, pts[j + 1] as Pos)) return [lo, hi]
    }
  }
  return null
}

export function bboxOf (g: GeofenceGeometry): BBox {
  if (g.type === 'Point') {
    const [lon, lat] = g.coordinates as [number, number]
    const dLat = g.radius_m / M_PER_DEG_LAT
    const cos = Math.cos(lat * Math.PI / 180)
    // near a pole a circle's box spans every longitude
    const dLon = cos < 1e-9 ? 360 : Math.min(360, dLat / cos)
    return [Math.max(-180, lon - dLon), Math.max(-90, lat - dLat), Math.min(180, lon + dLon), Math.min(90, lat + dLat)]
  }
  const box: BBox = [Infinity, Infinity, -Infinity, -Infinity]
  for (const rings of polygonsOf(g)) {
    // the outer ring bounds its holes
    for (const p of rings[0] ?? []) {
      if ((p[0] as number) < box[0]) box[0] = p[0] as number
      if ((p[1] as number) < box[1]) box[1] = p[1] as number
      if ((p[0] as number) > box[2]) box[2] = p[0] as number
      if ((p[1] as number) > box[3]) box[3] = p[1] as number
    }
  }
  return box
}

/** Great-circle distance in metres (haversine). */
export function distanceM (lon1: number, lat1: number, lon2: number, lat2: number): number {
  const rad = Math.PI / 180
  const dLat = (lat2 - lat1) * rad
  const dLon = (lon2 - lon1) * rad
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)))
}

/** Whether the point lies in the geometry (a polygon's boundary counts as inside). */
export function contains (g: GeofenceGeometry, lon: number, lat: number): boolean {
  if (g.type === 'Point') return distanceM(g.coordinates[0], g.coordinates[1], lon, lat) <= g.radius_m
  return booleanPointInPolygon([lon, lat], g as Parameters<typeof booleanPointInPolygon>[1])
}
