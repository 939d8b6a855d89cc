// The geofences of one moment as a static spatial index (flatbush over their
// bounding boxes), then the exact test on the few whose box holds the point.
// Rebuilt whole on every change: changes are rare, lookups are per reading.
import Flatbush from 'flatbush'
import type { Geofence } from '../../../schemas/types.js'
import { bboxOf, contains, type BBox } from './geometry.js'

export interface GeofenceIndex {
  size: number
  get: (id: string) => Geofence | undefined
  /** The geofences that contain the point. */
  containing: (lon: number, lat: number) => Geofence[]
  /** The geofences whose bounding box meets the box. */
  meeting: (box: BBox) => Geofence[]
}

export function createGeofenceIndex (fences: Iterable<Geofence>): GeofenceIndex {
  const list = [...fences]
  const byId = new Map(list.map(g => [g.id, g]))
  if (list.length === 0) {
    return { size: 0, get: () => undefined, containing: () => [], meeting: () => [] }
  }
  const tree = new Flatbush(list.length)
  for (const g of list) {
    const [minX, minY, maxX, maxY] = bboxOf(g.geometry)
    tree.add(minX, minY, maxX, maxY)
  }
  tree.finish()
  return {
    size: list.length,
    get: id => byId.get(id),
    containing (lon, lat) {
      const out: Geofence[] = []
      for (const i of tree.search(lon, lat, lon, lat)) {
        const g = list[i] as Geofence
        if (contains(g.geometry, lon, lat)) out.push(g)
      }
      return out
    },
    meeting: ([minX, minY, maxX, maxY]) => tree.search(minX, minY, maxX, maxY).map(i => list[i] as Geofence)
  }
}
