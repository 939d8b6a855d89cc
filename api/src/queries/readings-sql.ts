// SQL over the readings table and the mapping of its rows to the API's shape.
// Every value reaches QuestDB as a bind parameter. Timestamps are selected as
// epoch microseconds: node-pg would read them as local time and drop micros.
import type { Position } from '../../../schemas/live.js'
import { microsToIso } from '../../../schemas/timestamps.js'
import { READING_FIELDS } from '../../../schemas/reading-fields.js'
const LONG_FIELDS: ReadonlySet<string> = new Set(['seq'])
const COLUMNS = READING_FIELDS.join(', ')

export type StoredReading = Position & { received_at: string }

export function rowToPosition (row: Record<string, unknown>, vehicleId?: string): StoredReading {
  const out: Record<string, unknown> = { vehicle_id: vehicleId ?? row.vehicle_id, ts: microsToIso(Number(row.ts_us)) }
  for (const f of READING_FIELDS) {
    const v = row[f]
    if (v === null || v === undefined) continue
    out[f] = LONG_FIELDS.has(f) ? Number(v) : v
  }
  if (row.received_us !== undefined && row.received_us !== null) out.received_at = microsToIso(Number(row.received_us))
  return out as unknown as StoredReading
}

export const READINGS_PAGE_SQL = `SELECT cast(ts AS long) ts_us, ${COLUMNS}, cast(received_at AS long) received_us
FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4`

export const READINGS_PAGE_DESC_SQL = `SELECT cast(ts AS long) ts_us, ${COLUMNS}, cast(received_at AS long) received_us
FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts DESC LIMIT $4`

export const LATEST_SQL = `SELECT cast(ts AS long) ts_us, vehicle_id, ${COLUMNS}, cast(received_at AS long) received_us
FROM (SELECT * FROM readings LATEST ON ts PARTITION BY vehicle_id)`

export const LATEST_ONE_SQL = `SELECT cast(ts AS long) ts_us, vehicle_id, ${COLUMNS}, cast(received_at AS long) received_us
FROM readings WHERE vehicle_id = $1 LATEST ON ts PARTITION BY vehicle_id`

export const STATUS_SQL = 'SELECT cast(ts AS long) ts_us, vehicle_id, online FROM vehicle_status LATEST ON ts PARTITION BY vehicle_id'

export const STATUS_ONE_SQL = 'SELECT cast(ts AS long) ts_us, vehicle_id, online FROM vehicle_status WHERE vehicle_id = $1 LATEST ON ts PARTITION BY vehicle_id'

/** Latest positions inside a box; the filter wraps LATEST ON (a WHERE beside it would filter before "latest"). BETWEEN fails on DOUBLE. */
export const POSITIONS_IN_BOX_SQL = `SELECT cast(ts AS long) ts_us, vehicle_id, ${COLUMNS}, cast(received_at AS long) received_us
FROM (SELECT * FROM readings LATEST ON ts PARTITION BY vehicle_id)
WHERE lat >= $1 AND lat <= $2 AND lon >= $3 AND lon <= $4 ORDER BY vehicle_id`

/** The same for a box crossing the antimeridian (minLon > maxLon): lon >= minLon or lon <= maxLon. */
export const POSITIONS_IN_WRAPPED_BOX_SQL = `SELECT cast(ts AS long) ts_us, vehicle_id, ${COLUMNS}, cast(received_at AS long) received_us
FROM (SELECT * FROM readings LATEST ON ts PARTITION BY vehicle_id)
WHERE lat >= $1 AND lat <= $2 AND (lon >= $3 OR lon <= $4) ORDER BY vehicle_id`

export const BUCKET_UNITS = { s: 1, m: 60, h: 3600, d: 86400 } as const
export type BucketUnit = keyof typeof BUCKET_UNITS

/**
 * The downsampled track. SAMPLE BY takes no bind parameter, so the bucket goes
 * into the SQL text: only as a checked positive integer and one of four unit
 * letters; every value stays a bind parameter. Buckets are aligned to `from`
 * ($2), so a range holds at most ceil(range / bucket) of them. A point is
 * the bucket's last reading (last() of ts and of its values, the same row,
 * not the bucket's start) with the mean speed and the highest engine
 * temperature of the bucket's readings up to it.
 */
export function trackSql (n: number, unit: BucketUnit): string {
  if (!Number.isSafeInteger(n) || n < 1 || n > 1e9 || !Object.hasOwn(BUCKET_UNITS, unit)) throw new RangeError(`bad bucket ${n}${unit}`)
  return `SELECT cast(at AS long) ts_us, lat, lon, speed_kmh, heading_deg, fuel_pct, engine_temp_c FROM (
SELECT ts, last(ts) at, last(lat) lat, last(lon) lon, avg(speed_kmh) speed_kmh, last(heading_deg) heading_deg, last(fuel_pct) fuel_pct, max(engine_temp_c) engine_temp_c
FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3
SAMPLE BY ${n}${unit} FROM $2 TO $3) ORDER BY ts_us`
}

/** The bucket for a range and a point budget: whole seconds, in the largest unit that divides it. */
export function bucketFor (rangeUs: number, maxPoints: number): { n: number, unit: BucketUnit, seconds: number } {
  const seconds = Math.max(1, Math.ceil(rangeUs / 1e6 / maxPoints))
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = BUCKET_UNITS[unit]
    if (seconds % size === 0) return { n: seconds / size, unit, seconds }
  }
  return { n: seconds, unit: 's', seconds }
}
