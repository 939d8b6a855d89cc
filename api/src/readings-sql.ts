// SQL over the readings table and the mapping of its rows to the API's shape.
// Every value reaches QuestDB as a bind parameter. Timestamps are selected as
// epoch microseconds: node-pg would read them as local time and drop micros.
import telemetrySchema from '../../schemas/telemetry.schema.json' with { type: 'json' }
import type { Position } from '../../schemas/live.js'
import { microsToIso } from '../../gateway/src/ingest/timestamps.js'

/** Reading fields stored as columns, derived from the schema. */
export const READING_FIELDS = Object.keys(telemetrySchema.properties).filter(k => k !== 'ts')
const LONG_FIELDS = new Set(['seq'])
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
  return out as StoredReading
}

export const READINGS_PAGE_SQL = `SELECT cast(ts AS long) ts_us, ${COLUMNS}, cast(received_at AS long) received_us
FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4`

export const LATEST_SQL = `SELECT cast(ts AS long) ts_us, vehicle_id, ${COLUMNS}, cast(received_at AS long) received_us
FROM (SELECT * FROM readings LATEST ON ts PARTITION BY vehicle_id)`
