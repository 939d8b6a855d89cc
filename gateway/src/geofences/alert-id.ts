// An alert as the API and the live feed show it, and its id: the identity the
// alerts table deduplicates on (vehicle, geofence, type, reading time), so the
// same crossing has the same id whichever process raised or replayed it.
import type { Alert } from '../../../schemas/types.js'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { AlertRow, AlertType } from './geofence-evaluator.js'

const TYPES: ReadonlySet<string> = new Set<AlertType>(['geofence_enter', 'geofence_exit', 'geofence_dwell', 'overspeed'])
const ID = /^[A-Za-z0-9_-]{1,64}$/

export interface AlertKey { vehicleId: string, geofenceId: string, type: AlertType, tsUs: number }

export function alertId (k: AlertKey): string {
  return `${k.vehicleId}.${k.geofenceId}.${k.type}.${k.tsUs}`
}

/** The key of an id this API issued, or null. */
export function parseAlertId (id: string): AlertKey | null {
  const parts = id.split('.')
  if (parts.length !== 4) return null
  const [vehicleId, geofenceId, type, ts] = parts as [string, string, string, string]
  if (!ID.test(vehicleId) || !ID.test(geofenceId) || !TYPES.has(type) || !/^-?\d{1,17}$/.test(ts)) return null
  const tsUs = Number(ts)
  return Number.isSafeInteger(tsUs) ? { vehicleId, geofenceId, type: type as AlertType, tsUs } : null
}

export function toAlert (a: AlertRow): Alert {
  return {
    id: alertId(a),
    ts: microsToIso(a.tsUs),
    vehicle_id: a.vehicleId,
    type: a.type,
    geofence_id: a.geofenceId,
    geofence_name: a.geofenceName,
    lat: a.lat,
    lon: a.lon,
    speed_kmh: a.speedKmh,
    acked_by: null,
    acked_at: null
  }
}
