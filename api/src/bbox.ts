// The bounding box of GET /positions and of a live-feed subscription: one
// type (schemas/api/bbox.schema.json), one range check, one containment test.
import type { BBox } from '../../schemas/types.js'

export type { BBox }

/** Why the four numbers are not a box (null: they are). The schema bounds every item by the longitudes; latitudes are narrower. */
export function bboxProblem (b: readonly number[]): string | null {
  if (b.length !== 4 || !b.every(Number.isFinite)) return 'four finite numbers'
  const [minLon, minLat, maxLon, maxLat] = b as BBox
  if ([minLon, maxLon].some(x => x < -180 || x > 180)) return 'longitudes in [-180, 180]'
  if ([minLat, maxLat].some(x => x < -90 || x > 90)) return 'latitudes in [-90, 90]'
  if (minLat > maxLat) return 'minLat <= maxLat'
  return null
}

export function inBox (lat: number, lon: number, b: BBox): boolean {
  const [minLon, minLat, maxLon, maxLat] = b
  if (!(lat >= minLat && lat <= maxLat)) return false
  // a box whose west edge is east of its east edge crosses the antimeridian
  return minLon <= maxLon ? lon >= minLon && lon <= maxLon : lon >= minLon || lon <= maxLon
}
