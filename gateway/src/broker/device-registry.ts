// Device tokens. A token is 256 random bits shown once; the registry keeps only
// its SHA-256 (a fast hash is enough for a secret of that entropy, and keeps a
// reconnect storm of 10,000 vehicles at microseconds each, never a database
// round trip). The registry is an append-only JSON-lines file in DATA_DIR,
// loaded into memory and followed while the gateway runs, so `fleetgate token`
// and `fleetgate revoke` take effect without a restart.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync, unwatchFile, watchFile } from 'node:fs'
import { dirname, join } from 'node:path'
import { isVehicleId } from '../../../schemas/topics.js'
import { appendedLines } from './appended-lines.js'

export const REGISTRY_FILE = 'devices.jsonl'

type Line = { op: 'issue', vehicle_id: string, sha256: string, at: string } | { op: 'revoke', vehicle_id: string, at: string }

export interface DeviceRegistry {
  verify: (vehicleId: string, token: string) => boolean
  has: (vehicleId: string) => boolean
  size: () => number
  /** Re-reads what was appended since the last read; returns the vehicles revoked by it. */
  refresh: () => string[]
  /**
   * A line from another node (the Redis registry stream): applied unless the
   * vehicle's last line is newer, so a replay or a late arrival changes
   * nothing. Returns the vehicle id for a revoke, else null.
   */
  apply: (text: string) => string | null
  /** Follows the file; calls onRevoke for vehicles revoked meanwhile. */
  watch: (onRevoke: (vehicleId: string) => void, intervalMs?: number) => void
  close: () => void
}

export function hashToken (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

export function registryPath (dataDir: string): string {
  return join(dataDir, REGISTRY_FILE)
}

function append (dataDir: string, line: Line): void {
  const file = registryPath(dataDir)
  mkdirSync(dirname(file), { recursive: true })
  appendFileSync(file, JSON.stringify(line) + '\n', { mode: 0o600 })
}

/** Issues (or rotates) a vehicle's token; prints nothing, returns the token. */
export function issueToken (dataDir: string, vehicleId: string): string {
  if (!isVehicleId(vehicleId)) throw new Error('invalid vehicle id: must match ^[A-Za-z0-9_-]{1,64}$')
  const token = 'fgt_' + randomBytes(32).toString('base64url')
  append(dataDir, { op: 'issue', vehicle_id: vehicleId, sha256: hashToken(token).toString('hex'), at: new Date().toISOString() })
  return token
}

export function revokeToken (dataDir: string, vehicleId: string): void {
  if (!isVehicleId(vehicleId)) throw new Error('invalid vehicle id: must match ^[A-Za-z0-9_-]{1,64}$')
  append(dataDir, { op: 'revoke', vehicle_id: vehicleId, at: new Date().toISOString() })
}

export function openDeviceRegistry (dataDir: string): DeviceRegistry {
  const file = registryPath(dataDir)
  const hashes = new Map<string, Buffer>()
  // the `at` of each vehicle's last line applied
  const lastAt = new Map<string, string>()
  const next = appendedLines(file)
  let watching = false

  function refresh (): string[] {
    const revoked: string[] = []
    const { lines, restarted } = next()
    if (restarted) hashes.clear()
    for (const l of lines) {
      if (!l.trim()) continue
      let line: Line
      try { line = JSON.parse(l) as Line } catch { continue }
      if (!isVehicleId(line.vehicle_id)) continue
      if (typeof line.at === 'string') lastAt.set(line.vehicle_id, line.at)
      if (line.op === 'issue') hashes.set(line.vehicle_id, Buffer.from(line.sha256, 'hex'))
      else if (line.op === 'revoke') { hashes.delete(line.vehicle_id); revoked.push(line.vehicle_id) }
    }
    return revoked
  }

  refresh()
  return {
    verify (vehicleId, token) {
      // a token issued since the last poll of the file is picked up here
      if (!hashes.has(vehicleId)) refresh()
      const want = hashes.get(vehicleId)
      if (!want || typeof token !== 'string' || token.length > 256) return false
      return timingSafeEqual(want, hashToken(token))
    },
    has: id => hashes.has(id),
    size: () => hashes.size,
    refresh,
    apply (text) {
      let line: Line
      try { line = JSON.parse(text) as Line } catch { return null }
      if (!isVehicleId(line.vehicle_id) || typeof line.at !== 'string') return null
      const before = lastAt.get(line.vehicle_id)
      if (before !== undefined && line.at < before) return null
      lastAt.set(line.vehicle_id, line.at)
      if (line.op === 'issue' && typeof line.sha256 === 'string' && /^[0-9a-f]{64}$/.test(line.sha256)) hashes.set(line.vehicle_id, Buffer.from(line.sha256, 'hex'))
      else if (line.op === 'revoke') { hashes.delete(line.vehicle_id); return line.vehicle_id }
      return null
    },
    watch (onRevoke, intervalMs = 500) {
      watching = true
      watchFile(file, { interval: intervalMs, persistent: false }, () => {
        for (const id of refresh()) if (!hashes.has(id)) onRevoke(id)
      })
    },
    close () {
      if (watching) unwatchFile(file)
      watching = false
    }
  }
}

export interface DeviceRecord {
  vehicle_id: string
  /** active: holds a token; revoked: its last token was revoked. */
  status: 'active' | 'revoked'
  /** When its current (or, once revoked, its last) token was issued. */
  issued_at: string | null
  revoked_at: string | null
}

/** Every vehicle the registry file names, in the state its last line left it (for listings, not for the hot path). */
export function listDevices (dataDir: string): Map<string, DeviceRecord> {
  const devices = new Map<string, DeviceRecord>()
  const file = registryPath(dataDir)
  if (!existsSync(file)) return devices
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim()) continue
    let line: Line
    try { line = JSON.parse(l) as Line } catch { continue }
    if (!isVehicleId(line.vehicle_id)) continue
    const prev = devices.get(line.vehicle_id)
    if (line.op === 'issue') devices.set(line.vehicle_id, { vehicle_id: line.vehicle_id, status: 'active', issued_at: line.at, revoked_at: null })
    else if (line.op === 'revoke') devices.set(line.vehicle_id, { vehicle_id: line.vehicle_id, status: 'revoked', issued_at: prev?.issued_at ?? null, revoked_at: line.at })
  }
  return devices
}

/** Whether the vehicle holds a token now. */
export function hasActiveToken (dataDir: string, vehicleId: string): boolean {
  return listDevices(dataDir).get(vehicleId)?.status === 'active'
}

/** Issues (or rotates) the tokens of many vehicles in one append; returns them in the order of `vehicleIds`. */
export function issueTokenBatch (dataDir: string, vehicleIds: string[]): string[] {
  const at = new Date().toISOString()
  const tokens: string[] = []
  let text = ''
  for (const id of vehicleIds) {
    if (!isVehicleId(id)) throw new Error(`invalid vehicle id ${JSON.stringify(id)}: must match ^[A-Za-z0-9_-]{1,64}$`)
    const token = 'fgt_' + randomBytes(32).toString('base64url')
    tokens.push(token)
    text += JSON.stringify({ op: 'issue', vehicle_id: id, sha256: hashToken(token).toString('hex'), at } satisfies Line) + '\n'
  }
  if (text) {
    const file = registryPath(dataDir)
    mkdirSync(dirname(file), { recursive: true })
    appendFileSync(file, text, { mode: 0o600 })
  }
  return tokens
}
