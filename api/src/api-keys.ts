// API keys. A key is shown once, when made; only its SHA-256 is kept, in
// DATA_DIR/api-keys.jsonl (one JSON object per line, append-only) or in the
// API_KEYS variable (role:sha256hex,...). The file is re-read when it changes,
// so a new key works without a restart.
import { createHash, randomBytes } from 'node:crypto'
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

export const ROLES = ['read', 'ingest', 'admin'] as const
export type Role = typeof ROLES[number]

export interface ApiKey { id: string, role: Role }

interface StoredKey extends ApiKey { sha256: string, created: string }

export function isRole (x: unknown): x is Role {
  return typeof x === 'string' && (ROLES as readonly string[]).includes(x)
}

/** What a role may do: admin may do everything, the others only their own. */
export function allows (have: Role, need: Role): boolean {
  return have === 'admin' || have === need
}

export function apiKeysFile (dataDir: string): string {
  return join(dataDir, 'api-keys.jsonl')
}

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Makes a key with the role, stores its hash and returns the key (the only time it exists in clear). */
export function createApiKey (dataDir: string, role: Role): { id: string, key: string } {
  const key = 'fgk_' + randomBytes(32).toString('base64url')
  const hash = sha256(key)
  const id = hash.slice(0, 12)
  mkdirSync(dataDir, { recursive: true })
  const line: StoredKey = { id, role, sha256: hash, created: new Date().toISOString() }
  appendFileSync(apiKeysFile(dataDir), JSON.stringify(line) + '\n', { mode: 0o600 })
  return { id, key }
}

export interface ApiKeyStore {
  /** The key's id and role, or null for an unknown key. */
  verify: (key: string) => ApiKey | null
  size: () => number
}

/** @param env API_KEYS: comma-separated role:sha256hex */
export function openApiKeyStore (dataDir: string, env?: string): ApiKeyStore {
  const file = apiKeysFile(dataDir)
  const fromEnv = new Map<string, ApiKey>()
  for (const entry of (env ?? '').split(',').filter(Boolean)) {
    const [role, hash] = entry.split(':')
    if (!isRole(role) || !hash || !/^[0-9a-f]{64}$/.test(hash)) throw new Error('API_KEYS must be comma-separated role:sha256hex entries')
    fromEnv.set(hash, { id: hash.slice(0, 12), role })
  }
  let fromFile = new Map<string, ApiKey>()
  let seen = ''
  let checkedAt = 0

  // a stat per unknown key (a new key works at once), else at most one a second
  function reload (force: boolean): void {
    const now = Date.now()
    if (!force && now - checkedAt < 1000) return
    checkedAt = now
    let stamp = ''
    try { const st = statSync(file); stamp = `${st.mtimeMs}:${st.size}` } catch { stamp = 'none' }
    if (stamp === seen) return
    seen = stamp
    const next = new Map<string, ApiKey>()
    if (stamp !== 'none') {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line.trim()) continue
        try {
          const k = JSON.parse(line) as Partial<StoredKey>
          if (typeof k.sha256 === 'string' && typeof k.id === 'string' && isRole(k.role)) next.set(k.sha256, { id: k.id, role: k.role })
        } catch { /* a torn last line is skipped until it is complete */ }
      }
    }
    fromFile = next
  }

  return {
    verify (key) {
      if (typeof key !== 'string' || key.length < 8 || key.length > 256) return null
      reload(false)
      const hash = sha256(key)
      const known = fromEnv.get(hash) ?? fromFile.get(hash)
      if (known) return known
      reload(true)
      return fromFile.get(hash) ?? null
    },
    size () { reload(true); return fromEnv.size + fromFile.size }
  }
}
