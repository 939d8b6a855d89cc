// A live-feed subscription: what a map asked for, parsed and checked once, and
// the predicates that decide whether a position or an event goes to it.
import { isVehicleId } from '../../../schemas/topics.js'

/** [minLon, minLat, maxLon, maxLat]; minLon > maxLon means the box crosses the antimeridian. */
export type BBox = [number, number, number, number]

export interface Subscription {
  /** `"*"`: every vehicle (still narrowed by bbox). */
  all: boolean
  ids: ReadonlySet<string>
  bbox: BBox | null
  /** 0: every reading as it arrives (conflated only when the client falls behind). */
  maxHz: number
}

export const MAX_VEHICLES_PER_SUBSCRIPTION = 100000
export const MAX_HZ = 50

export function inBox (lat: number, lon: number, b: BBox): boolean {
  const [minLon, minLat, maxLon, maxLat] = b
  if (!(lat >= minLat && lat <= maxLat)) return false
  // a box whose west edge is east of its east edge crosses the antimeridian
  return minLon <= maxLon ? lon >= minLon && lon <= maxLon : lon >= minLon || lon <= maxLon
}

export function matchesVehicle (sub: Subscription, vehicleId: string): boolean {
  return sub.all || sub.ids.has(vehicleId)
}

/** A position (or an event with a place) for vehicleId at (lat, lon). */
export function matches (sub: Subscription, vehicleId: string, lat: number | undefined, lon: number | undefined): boolean {
  if (!sub.all && !sub.ids.has(vehicleId)) return false
  if (sub.bbox !== null && (lat === undefined || lon === undefined || !inBox(lat, lon, sub.bbox))) return false
  return true
}

/** The subscription, or the reason it is refused (sent back as an error message). */
export function parseSubscribe (msg: Record<string, unknown>): Subscription | string {
  const v = msg.vehicles ?? '*'
  let all = false
  const ids = new Set<string>()
  if (v === '*') all = true
  else if (Array.isArray(v) && v.length <= MAX_VEHICLES_PER_SUBSCRIPTION && v.every(isVehicleId)) for (const id of v) ids.add(id)
  else return `vehicles must be "*" or an array of at most ${MAX_VEHICLES_PER_SUBSCRIPTION} vehicle ids`
  let bbox: BBox | null = null
  if (msg.bbox !== undefined && msg.bbox !== null) {
    const b = msg.bbox
    if (!Array.isArray(b) || b.length !== 4 || !b.every(n => typeof n === 'number' && Number.isFinite(n))) return 'bbox must be [minLon,minLat,maxLon,maxLat]'
    const [minLon, minLat, maxLon, maxLat] = b as BBox
    if (minLat > maxLat || minLat < -90 || maxLat > 90 || minLon < -180 || minLon > 180 || maxLon < -180 || maxLon > 180) {
      return 'bbox out of range: lon in [-180,180], lat in [-90,90], minLat <= maxLat (minLon > maxLon crosses the antimeridian)'
    }
    bbox = [minLon, minLat, maxLon, maxLat]
  }
  const hz = msg.max_hz ?? 0
  if (typeof hz !== 'number' || !(hz >= 0 && hz <= MAX_HZ)) return `max_hz must be a number in [0, ${MAX_HZ}] (0 or absent: every reading)`
  return { all, ids, bbox, maxHz: hz }
}
