// Alert rows as ILP text lines for the `alerts` table. Text doubles and a
// nanosecond designated timestamp are read alike by ILP protocols 1 and 2, so
// these lines join the readings' chunk whichever protocol encoded it, and go
// to the spool in the same append (durable together). The escaping rules are
// those of ilp-fast-encoder.ts; vehicle and geofence ids cannot need them.
import type { AlertRow } from './geofence-evaluator.js'

const NAME_ESCAPE = /[ ,=\n\r\\]/g
const STRING_ESCAPE = /["\n\r\\]/g

function sym (s: string): string {
  return s.replace(NAME_ESCAPE, '\\$&')
}

function float (v: number): string | null {
  return Number.isFinite(v) ? String(v) : null
}

export function alertLines (alerts: readonly AlertRow[]): string {
  let out = ''
  for (const a of alerts) {
    let fields = `geofence_name="${a.geofenceName.replace(STRING_ESCAPE, '\\$&')}"`
    const lat = float(a.lat)
    const lon = float(a.lon)
    if (lat !== null) fields += `,lat=${lat}`
    if (lon !== null) fields += `,lon=${lon}`
    const speed = a.speedKmh === null ? null : float(a.speedKmh)
    if (speed !== null) fields += `,speed_kmh=${speed}`
    fields += `,received_at=${Math.trunc(a.receivedUs)}t`
    out += `alerts,vehicle_id=${sym(a.vehicleId)},type=${a.type},geofence_id=${sym(a.geofenceId)} ${fields} ${Math.trunc(a.tsUs)}000\n`
  }
  return out
}
