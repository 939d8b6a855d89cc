// Geofence crossings at ingest: each accepted reading of a vehicle, in the
// readings' time order, against the vehicle's previous state (which geofences
// it was in, since when, and the time of its latest reading).
//
// Late readings: a reading whose time is not after the vehicle's latest
// reading is not used for crossings (a redelivered or replayed publish is one
// too). It is stored as usual; it never raises an enter/exit pair that did not
// happen, at the price of missing a crossing told only by a late reading.
import type { Alert } from '../../../schemas/types.js'
import type { ReadingRow } from '../ingest/to-rows.js'
import type { GeofenceIndex } from './geofence-index.js'

export type AlertType = Alert['type']

export interface AlertRow {
  vehicleId: string
  /** The time of the reading that raised it: with vehicle, geofence and type, the alert's identity. */
  tsUs: number
  type: AlertType
  geofenceId: string
  geofenceName: string
  lat: number
  lon: number
  speedKmh: number | null
  receivedUs: number
}

export interface Inside {
  /** Reading time of the entry. */
  sinceUs: number
  dwelled: boolean
  /** Above the geofence's speed limit at the latest reading: an overspeed alert was raised for this stretch. */
  over: boolean
}

export interface VehicleFences {
  lastTsUs: number
  inside: Map<string, Inside>
}

export interface GeofenceEvaluator {
  /** The alerts the readings raise (readings of one vehicle, any order); updates the state. */
  evaluate: (readings: readonly ReadingRow[]) => AlertRow[]
  state: Map<string, VehicleFences>
  /** Readings not used for crossings because they were not newer than the vehicle's latest. */
  late: () => number
  /** Whether the state changed since the last call (for the state file). */
  takeDirty: () => boolean
}

export function createGeofenceEvaluator (opts: { index: () => GeofenceIndex, dwellS: number, state?: Map<string, VehicleFences> }): GeofenceEvaluator {
  const state = opts.state ?? new Map<string, VehicleFences>()
  const dwellUs = opts.dwellS * 1e6
  let late = 0
  let dirty = false

  function alert (r: ReadingRow, type: AlertType, id: string, name: string): AlertRow {
    return { vehicleId: r.vehicleId, tsUs: r.tsUs, type, geofenceId: id, geofenceName: name, lat: r.reading.lat, lon: r.reading.lon, speedKmh: r.reading.speed_kmh ?? null, receivedUs: r.receivedUs }
  }

  function step (r: ReadingRow, index: GeofenceIndex, out: AlertRow[]): void {
    let v = state.get(r.vehicleId)
    if (v !== undefined && r.tsUs <= v.lastTsUs) { late++; return }
    if (v === undefined) state.set(r.vehicleId, (v = { lastTsUs: r.tsUs, inside: new Map() }))
    v.lastTsUs = r.tsUs
    dirty = true
    const now = index.containing(r.reading.lon, r.reading.lat)
    const nowIds = new Set<string>()
    const speed = r.reading.speed_kmh
    for (const g of now) {
      nowIds.add(g.id)
      let inside = v.inside.get(g.id)
      if (inside === undefined) {
        v.inside.set(g.id, (inside = { sinceUs: r.tsUs, dwelled: false, over: false }))
        out.push(alert(r, 'geofence_enter', g.id, g.name))
      }
      if (g.speed_limit_kmh !== undefined && speed !== undefined) {
        if (speed <= g.speed_limit_kmh) inside.over = false
        else if (!inside.over) {
          inside.over = true
          out.push(alert(r, 'overspeed', g.id, g.name))
        }
      }
    }
    for (const [id, inside] of v.inside) {
      if (nowIds.has(id)) {
        if (dwellUs > 0 && !inside.dwelled && r.tsUs - inside.sinceUs >= dwellUs) {
          inside.dwelled = true
          out.push(alert(r, 'geofence_dwell', id, index.get(id)?.name ?? id))
        }
        continue
      }
      v.inside.delete(id)
      // a deleted geofence is forgotten without an exit: the vehicle did not leave it
      const g = index.get(id)
      if (g !== undefined) out.push(alert(r, 'geofence_exit', id, g.name))
    }
  }

  return {
    evaluate (readings) {
      const out: AlertRow[] = []
      const index = opts.index()
      if (index.size === 0 && state.size === 0) return out
      // a batch is decided in reading-time order whatever order it came in
      const ordered = readings.length > 1 ? [...readings].sort((a, b) => a.tsUs - b.tsUs) : readings
      for (const r of ordered) step(r, index, out)
      return out
    },
    state,
    late: () => late,
    takeDirty () {
      const was = dirty
      dirty = false
      return was
    }
  }
}
