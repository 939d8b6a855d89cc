// A street network for vehicles to drive on: generated from a seed inside a
// city box (a jittered grid of residential streets, every few blocks an
// arterial, a ring road), or read from a user's GeoJSON LineStrings.
import { readFileSync } from 'node:fs'

export type Rng = () => number

/** mulberry32: small, fast, seedable. */
export function createRng (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface CityBox { minLon: number, minLat: number, maxLon: number, maxLat: number }
/** Johannesburg, roughly. */
export const DEFAULT_CITY: CityBox = { minLon: 27.95, minLat: -26.25, maxLon: 28.1, maxLat: -26.12 }

export type RoadType = 'residential' | 'arterial' | 'highway'
/** Speed limits, km/h. */
export const ROAD_LIMITS: Record<RoadType, number> = { residential: 50, arterial: 70, highway: 110 }
/** Chance that a vehicle stops (sign, light) at the end of a road of this type. */
export const STOP_CHANCE: Record<RoadType, number> = { residential: 0.35, arterial: 0.25, highway: 0.02 }

export interface RoadNode { lat: number, lon: number }
export interface RoadEdge { a: number, b: number, lengthM: number, type: RoadType, limitKmh: number }
export interface RoadNetwork {
  nodes: RoadNode[]
  edges: RoadEdge[]
  /** node -> indexes of the edges that touch it */
  adjacent: number[][]
}

const M_PER_DEG_LAT = 111320

export function distanceM (aLat: number, aLon: number, bLat: number, bLon: number): number {
  const dy = (bLat - aLat) * M_PER_DEG_LAT
  const dx = (bLon - aLon) * M_PER_DEG_LAT * Math.cos((aLat + bLat) / 2 * Math.PI / 180)
  return Math.sqrt(dx * dx + dy * dy)
}

/** Initial bearing a -> b, degrees clockwise from north, [0, 360). */
export function bearingDeg (aLat: number, aLon: number, bLat: number, bLon: number): number {
  const dy = bLat - aLat
  const dx = (bLon - aLon) * Math.cos((aLat + bLat) / 2 * Math.PI / 180)
  const deg = Math.atan2(dx, dy) * 180 / Math.PI
  return (deg + 360) % 360
}

function build (nodes: RoadNode[], edges: RoadEdge[]): RoadNetwork {
  const adjacent: number[][] = nodes.map(() => [])
  edges.forEach((e, i) => { adjacent[e.a]?.push(i); adjacent[e.b]?.push(i) })
  return keepLargestComponent({ nodes, edges, adjacent })
}

/** Drops what is not reachable from the largest connected part, so every trip can go on. */
function keepLargestComponent (net: RoadNetwork): RoadNetwork {
  const comp = new Int32Array(net.nodes.length).fill(-1)
  let best = -1
  let bestSize = 0
  let c = 0
  for (let s = 0; s < net.nodes.length; s++) {
    if (comp[s] !== -1 || (net.adjacent[s]?.length ?? 0) === 0) continue
    let size = 0
    const stack = [s]
    comp[s] = c
    while (stack.length > 0) {
      const n = stack.pop() as number
      size++
      for (const ei of net.adjacent[n] ?? []) {
        const e = net.edges[ei] as RoadEdge
        const o = e.a === n ? e.b : e.a
        if (comp[o] === -1) { comp[o] = c; stack.push(o) }
      }
    }
    if (size > bestSize) { bestSize = size; best = c }
    c++
  }
  const remap = new Int32Array(net.nodes.length).fill(-1)
  const nodes: RoadNode[] = []
  net.nodes.forEach((n, i) => { if (comp[i] === best) { remap[i] = nodes.length; nodes.push(n) } })
  const edges = net.edges.filter(e => comp[e.a] === best).map(e => ({ ...e, a: remap[e.a] as number, b: remap[e.b] as number }))
  const adjacent: number[][] = nodes.map(() => [])
  edges.forEach((e, i) => { adjacent[e.a]?.push(i); adjacent[e.b]?.push(i) })
  return { nodes, edges, adjacent }
}

export interface GenerateOptions { city?: CityBox, blockM?: number, seed: number }

/**
 * A jittered grid of blocks (about blockM apart): residential streets, an
 * arterial every fourth line, a ring road on the edge; a few residential
 * segments removed so that not every block is a perfect square.
 */
export function generateNetwork (opts: GenerateOptions): RoadNetwork {
  const city = opts.city ?? DEFAULT_CITY
  const rng = createRng(opts.seed ^ 0x5eed)
  const blockM = opts.blockM ?? 350
  const midLat = (city.minLat + city.maxLat) / 2
  const widthM = (city.maxLon - city.minLon) * M_PER_DEG_LAT * Math.cos(midLat * Math.PI / 180)
  const heightM = (city.maxLat - city.minLat) * M_PER_DEG_LAT
  const cols = Math.max(3, Math.min(200, Math.round(widthM / blockM) + 1))
  const rows = Math.max(3, Math.min(200, Math.round(heightM / blockM) + 1))
  const dLon = (city.maxLon - city.minLon) / (cols - 1)
  const dLat = (city.maxLat - city.minLat) / (rows - 1)
  const nodes: RoadNode[] = []
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const edge = r === 0 || c === 0 || r === rows - 1 || c === cols - 1
      const j = edge ? 0 : 0.3
      nodes.push({ lat: city.minLat + (r + (rng() - 0.5) * j) * dLat, lon: city.minLon + (c + (rng() - 0.5) * j) * dLon })
    }
  }
  const id = (r: number, c: number): number => r * cols + c
  const edges: RoadEdge[] = []
  const add = (a: number, b: number, type: RoadType): void => {
    const na = nodes[a] as RoadNode
    const nb = nodes[b] as RoadNode
    edges.push({ a, b, type, limitKmh: ROAD_LIMITS[type], lengthM: distanceM(na.lat, na.lon, nb.lat, nb.lon) })
  }
  const typeOfLine = (i: number, n: number): RoadType => i === 0 || i === n - 1 ? 'highway' : i % 4 === 0 ? 'arterial' : 'residential'
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (c + 1 < cols) {
        const type = typeOfLine(r, rows)
        if (type !== 'residential' || rng() > 0.08) add(id(r, c), id(r, c + 1), type)
      }
      if (r + 1 < rows) {
        const type = typeOfLine(c, cols)
        if (type !== 'residential' || rng() > 0.08) add(id(r, c), id(r + 1, c), type)
      }
    }
  }
  return build(nodes, edges)
}

const HIGHWAY_TYPES: Record<string, RoadType> = {
  motorway: 'highway',
  motorway_link: 'highway',
  trunk: 'highway',
  trunk_link: 'arterial',
  primary: 'arterial',
  secondary: 'arterial',
  tertiary: 'arterial'
}

interface GeoJsonGeometry { type: string, coordinates: unknown }
interface GeoJsonFeature { type: 'Feature', geometry: GeoJsonGeometry | null, properties?: Record<string, unknown> | null }

/**
 * Roads from GeoJSON LineString / MultiLineString features (an OSM export,
 * say). `highway` (OSM) picks the road type, `maxspeed` (km/h) the limit;
 * vertices that coincide (to about 10 cm) become one junction.
 */
export function networkFromGeoJson (geojson: unknown): RoadNetwork {
  const g = geojson as { type?: string, features?: GeoJsonFeature[] }
  const features: GeoJsonFeature[] = g.type === 'FeatureCollection' && Array.isArray(g.features)
    ? g.features
    : g.type === 'Feature' ? [g as unknown as GeoJsonFeature] : []
  const nodes: RoadNode[] = []
  const index = new Map<string, number>()
  const edges: RoadEdge[] = []
  const nodeAt = (lon: number, lat: number): number => {
    const key = `${lon.toFixed(6)},${lat.toFixed(6)}`
    let i = index.get(key)
    if (i === undefined) { i = nodes.length; nodes.push({ lat, lon }); index.set(key, i) }
    return i
  }
  for (const f of features) {
    const geom = f.geometry
    if (!geom) continue
    const lines = geom.type === 'LineString' ? [geom.coordinates] : geom.type === 'MultiLineString' ? geom.coordinates as unknown[] : []
    const props = f.properties ?? {}
    const type = HIGHWAY_TYPES[String(props.highway ?? '')] ?? 'residential'
    const maxspeed = Number.parseFloat(String(props.maxspeed ?? ''))
    const limitKmh = Number.isFinite(maxspeed) && maxspeed > 0 && maxspeed <= 200 ? maxspeed : ROAD_LIMITS[type]
    for (const line of lines) {
      if (!Array.isArray(line)) continue
      let prev = -1
      for (const pt of line) {
        if (!Array.isArray(pt) || typeof pt[0] !== 'number' || typeof pt[1] !== 'number') continue
        const [lon, lat] = pt as [number, number]
        if (lat < -90 || lat > 90 || lon < -180 || lon > 180) continue
        const n = nodeAt(lon, lat)
        if (prev >= 0 && prev !== n) {
          const a = nodes[prev] as RoadNode
          const b = nodes[n] as RoadNode
          edges.push({ a: prev, b: n, type, limitKmh, lengthM: distanceM(a.lat, a.lon, b.lat, b.lon) })
        }
        prev = n
      }
    }
  }
  const net = build(nodes, edges)
  if (net.edges.length === 0) throw new Error('the GeoJSON file holds no LineString roads')
  return net
}

export function loadNetworkFile (file: string): RoadNetwork {
  return networkFromGeoJson(JSON.parse(readFileSync(file, 'utf8')))
}
