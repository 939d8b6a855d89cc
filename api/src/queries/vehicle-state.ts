// A vehicle's state from two tables: its latest reading (readings) and its
// latest status message (vehicle_status). Online: the latest status says so;
// with no status ever, a reading within the online window.
import type pg from 'pg'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { Vehicle } from '../../../schemas/types.js'
import { LATEST_ONE_SQL, LATEST_SQL, STATUS_ONE_SQL, STATUS_SQL, rowToPosition, type StoredReading } from './readings-sql.js'

export type VehicleState = Vehicle

interface StatusRow { ts_us: string, vehicle_id: string, online: boolean }

function merge (positions: StoredReading[], statuses: StatusRow[], windowS: number, nowUs: number): VehicleState[] {
  const byId = new Map<string, VehicleState>()
  for (const p of positions) {
    const seenUs = Date.parse(p.ts) * 1000
    byId.set(p.vehicle_id, { vehicle_id: p.vehicle_id, last_seen: p.ts, online: nowUs - seenUs <= windowS * 1e6, status: null, status_ts: null, position: p })
  }
  for (const s of statuses) {
    const v = byId.get(s.vehicle_id) ?? { vehicle_id: s.vehicle_id, last_seen: null, online: false, status: null, status_ts: null }
    v.status = s.online ? 'online' : 'offline'
    v.status_ts = microsToIso(Number(s.ts_us))
    v.online = s.online
    byId.set(s.vehicle_id, v)
  }
  return [...byId.values()].sort((a, b) => a.vehicle_id < b.vehicle_id ? -1 : a.vehicle_id > b.vehicle_id ? 1 : 0)
}

export async function allVehicles (db: pg.Pool, windowS: number): Promise<VehicleState[]> {
  const [readings, status] = await Promise.all([db.query(LATEST_SQL), db.query<StatusRow>(STATUS_SQL)])
  return merge(readings.rows.map(r => rowToPosition(r)), status.rows, windowS, Date.now() * 1000)
}

export async function oneVehicle (db: pg.Pool, id: string, windowS: number): Promise<VehicleState | null> {
  const [readings, status] = await Promise.all([db.query(LATEST_ONE_SQL, [id]), db.query<StatusRow>(STATUS_ONE_SQL, [id])])
  return merge(readings.rows.map(r => rowToPosition(r, id)), status.rows, windowS, Date.now() * 1000)[0] ?? null
}
