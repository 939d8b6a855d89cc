// The vehicles' geofence state across restarts: a JSON file per gateway
// process under DATA_DIR/geofences/, written whole (temp file + rename) at
// most once a second while it changes and at close. At start every process
// reads all the files and keeps, per vehicle, the state of the latest reading,
// so a vehicle that reconnects to another worker of the same DATA_DIR keeps
// its state. After a crash the state is at most a second old; replays of the
// spool make no second alert either way (the alerts table's DEDUP keys).
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { VehicleFences } from './geofence-evaluator.js'

type Saved = Record<string, { last_ts_us: number, inside: Record<string, [number, boolean, boolean?]> }>

export function geofenceStateDir (dataDir: string): string {
  return join(dataDir, 'geofences')
}

export function saveGeofenceState (file: string, state: ReadonlyMap<string, VehicleFences>): void {
  const out: Saved = {}
  for (const [id, v] of state) {
    const inside: Record<string, [number, boolean, boolean?]> = {}
    for (const [g, i] of v.inside) inside[g] = [i.sinceUs, i.dwelled, i.over]
    out[id] = { last_ts_us: v.lastTsUs, inside }
  }
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ version: 1, vehicles: out }))
  renameSync(tmp, file)
}

/** Every state file of the folder merged: per vehicle, the one with the latest reading. */
export function loadGeofenceState (dir: string): Map<string, VehicleFences> {
  const state = new Map<string, VehicleFences>()
  mkdirSync(dir, { recursive: true })
  for (const name of readdirSync(dir).filter(n => /^state-.*\.json$/.test(n))) {
    let vehicles: Saved
    try {
      vehicles = (JSON.parse(readFileSync(join(dir, name), 'utf8')) as { vehicles: Saved }).vehicles
    } catch {
      // a torn or foreign file: the rename makes a torn one unlikely, and the state is rebuilt by the next readings
      continue
    }
    for (const [id, v] of Object.entries(vehicles ?? {})) {
      if (typeof v?.last_ts_us !== 'number') continue
      const have = state.get(id)
      if (have && have.lastTsUs >= v.last_ts_us) continue
      const inside = new Map<string, { sinceUs: number, dwelled: boolean, over: boolean }>()
      for (const [g, [sinceUs, dwelled, over]] of Object.entries(v.inside ?? {})) inside.set(g, { sinceUs, dwelled, over: over === true })
      state.set(id, { lastTsUs: v.last_ts_us, inside })
    }
  }
  return state
}
