// Geofences as fleet configuration, kept like device tokens and API keys: an
// append-only JSON-lines file in DATA_DIR (the admin API appends a `put` or a
// `delete`), followed by every process on that DATA_DIR and, with REDIS_URL,
// forwarded to the other nodes by the registry stream (kind `geofence`). The
// last line of an id wins; a line older than the one applied changes nothing,
// so a replay of the stream is harmless.
import { appendFileSync, mkdirSync, unwatchFile, watchFile } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Geofence, GeofenceInput } from '../../../schemas/types.js'
import { appendedLines } from '../broker/appended-lines.js'
import { geometryProblem } from './geometry.js'
import { createGeofenceIndex, type GeofenceIndex } from './geofence-index.js'

export const GEOFENCES_FILE = 'geofences.jsonl'
const ID = /^[A-Za-z0-9_-]{1,64}$/

type Line = { op: 'put', id: string, geofence: Geofence, at: string } | { op: 'delete', id: string, at: string }

export interface GeofenceStore {
  get: (id: string) => Geofence | undefined
  /** Every geofence, sorted by id. */
  list: () => Geofence[]
  /** The current index (rebuilt after a change, shared until the next). */
  index: () => GeofenceIndex
  /** Reads what was appended since the last read; true when something changed. */
  refresh: () => boolean
  /** A line from another node (registry stream); true when it changed something. */
  apply: (text: string) => boolean
  /** Follows the file. */
  watch: (intervalMs?: number) => void
  close: () => void
}

export function geofencesFile (dataDir: string): string {
  return join(dataDir, GEOFENCES_FILE)
}

function append (dataDir: string, line: Line): void {
  const file = geofencesFile(dataDir)
  mkdirSync(dirname(file), { recursive: true })
  appendFileSync(file, JSON.stringify(line) + '\n', { mode: 0o600 })
}

/** Creates or replaces a geofence (already validated by the caller); returns it as stored. */
export function putGeofence (dataDir: string, id: string, input: GeofenceInput): Geofence {
  const at = new Date().toISOString()
  const geofence: Geofence = {
    id,
    name: input.name,
    ...(input.speed_limit_kmh !== undefined ? { speed_limit_kmh: input.speed_limit_kmh } : {}),
    labels: input.labels ?? [],
    geometry: input.geometry,
    updated_at: at
  }
  append(dataDir, { op: 'put', id, geofence, at })
  return geofence
}

export function deleteGeofence (dataDir: string, id: string): void {
  append(dataDir, { op: 'delete', id, at: new Date().toISOString() })
}

export function openGeofenceStore (dataDir: string, opts: { maxVertices: number }): GeofenceStore {
  const file = geofencesFile(dataDir)
  const fences = new Map<string, Geofence>()
  const lastAt = new Map<string, string>()
  const next = appendedLines(file)
  let current: GeofenceIndex | null = null
  let watching = false

  /** A line as read: null when it is not one this store wrote, or its geometry is unusable (a hand-edited file). */
  function parse (text: string): Line | null {
    let line: Line
    try { line = JSON.parse(text) as Line } catch { return null }
    if (typeof line !== 'object' || line === null || typeof line.id !== 'string' || !ID.test(line.id) || typeof line.at !== 'string') return null
    if (line.op === 'delete') return line
    if (line.op !== 'put' || typeof line.geofence !== 'object' || line.geofence === null || line.geofence.id !== line.id) return null
    try {
      if (geometryProblem(line.geofence.geometry, opts.maxVertices) !== null) return null
    } catch {
      return null
    }
    return line
  }

  function use (line: Line): void {
    lastAt.set(line.id, line.at)
    if (line.op === 'put') fences.set(line.id, line.geofence)
    else fences.delete(line.id)
    current = null
  }

  function refresh (): boolean {
    const { lines, restarted } = next()
    let changed = false
    if (restarted) { fences.clear(); lastAt.clear(); current = null; changed = true }
    for (const l of lines) {
      if (!l.trim()) continue
      const line = parse(l)
      if (line) { use(line); changed = true }
    }
    return changed
  }

  refresh()
  return {
    get (id) { refresh(); return fences.get(id) },
    list () {
      refresh()
      return [...fences.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    },
    index () {
      current ??= createGeofenceIndex(fences.values())
      return current
    },
    refresh,
    apply (text) {
      const line = parse(text)
      if (!line) return false
      const before = lastAt.get(line.id)
      if (before !== undefined && line.at < before) return false
      use(line)
      return true
    },
    watch (intervalMs = 250) {
      watching = true
      watchFile(file, { interval: intervalMs, persistent: false }, () => { refresh() })
    },
    close () {
      if (watching) unwatchFile(file)
      watching = false
    }
  }
}
