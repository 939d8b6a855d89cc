// API keys. A key is shown once, when made; only its SHA-256 is kept, in
// DATA_DIR/api-keys.jsonl (one JSON object per line, append-only: a key, or
// the revocation of a key's id) or in the API_KEYS variable
// (role:sha256hex,...). The file is re-read when it changes, so a new or
// revoked key takes effect without a restart.
import { createHash, randomBytes } from 'node:crypto'
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { apiKeysFile } from '../../schemas/config.js'

export const ROLES = ['read', 'ingest', 'admin'] as const
export type Role = typeof ROLES[number]

export interface ApiKey { id: string, role: Role }

interface StoredKey extends ApiKey { sha256: string, created: string, name?: string }
interface RevokeLine { op: 'revoke', id: string, at: string }

/** What a listing shows of a key: never the key, nor its hash. */
export interface ApiKeyInfo {
  id: string
  role: Role
  name: string
  /** file: made by `fleetgate apikey` or the admin API; env: from API_KEYS. */
  source: 'file' | 'env'
  created: string | null
  revoked_at: string | null
}

/** A key just made: the only time it exists in clear. */
export interface NewApiKey { id: string, role: Role, name: string, key: string }

export const MAX_KEY_NAME = 100

export function isRole (x: unknown): x is Role {
  return typeof x === 'string' && (ROLES as readonly string[]).includes(x)
}

/** What a role may do: admin may do everything, the others only their own. */
export function allows (have: Role, need: Role): boolean {
  return have === 'admin' || have === need
}

export { apiKeysFile }

function sha256 (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function newLine (role: Role, name: string, created: string): { line: StoredKey, key: string } {
  const key = 'fgk_' + randomBytes(32).toString('base64url')
  const hash = sha256(key)
  return { key, line: { id: hash.slice(0, 12), role, sha256: hash, created, ...(name ? { name } : {}) } }
}

function appendLines (dataDir: string, lines: Array<StoredKey | RevokeLine>): void {
  if (lines.length === 0) return
  mkdirSync(dataDir, { recursive: true })
  appendFileSync(apiKeysFile(dataDir), lines.map(l => JSON.stringify(l) + '\n').join(''), { mode: 0o600 })
}

/** Makes a key with the role, stores its hash and returns the key (the only time it exists in clear). */
export function createApiKey (dataDir: string, role: Role, name = ''): NewApiKey {
  return createApiKeys(dataDir, [{ role, name }])[0] as NewApiKey
}

/** Makes many keys in one append. */
export function createApiKeys (dataDir: string, specs: Array<{ role: Role, name?: string }>): NewApiKey[] {
  const created = new Date().toISOString()
  const made = specs.map(s => {
    if (!isRole(s.role)) throw new Error(`invalid role ${JSON.stringify(s.role)}: one of ${ROLES.join(', ')}`)
    return newLine(s.role, checkName(s.name ?? ''), created)
  })
  appendLines(dataDir, made.map(m => m.line))
  return made.map(m => ({ id: m.line.id, role: m.line.role, name: m.line.name ?? '', key: m.key }))
}

function checkName (name: string): string {
  if (name.length > MAX_KEY_NAME || [...name].some(c => c.charCodeAt(0) < 0x20)) throw new Error(`a key name has at most ${MAX_KEY_NAME} characters and no control characters`)
  return name
}

interface FileState { keys: Map<string, StoredKey>, revoked: Map<string, string> }

function readKeyFile (dataDir: string): FileState {
  const keys = new Map<string, StoredKey>()
  const revoked = new Map<string, string>()
  let text = ''
  try { text = readFileSync(apiKeysFile(dataDir), 'utf8') } catch { return { keys, revoked } }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      const k = JSON.parse(line) as Partial<StoredKey> & Partial<RevokeLine>
      if (k.op === 'revoke' && typeof k.id === 'string') revoked.set(k.id, typeof k.at === 'string' ? k.at : '')
      else if (typeof k.sha256 === 'string' && typeof k.id === 'string' && isRole(k.role)) keys.set(k.sha256, { id: k.id, role: k.role, sha256: k.sha256, created: typeof k.created === 'string' ? k.created : '', ...(typeof k.name === 'string' ? { name: k.name } : {}) })
    } catch { /* a torn last line is skipped until it is complete */ }
  }
  return { keys, revoked }
}

function parseEnvKeys (env: string | undefined): Map<string, ApiKey> {
  const fromEnv = new Map<string, ApiKey>()
  for (const entry of (env ?? '').split(',').filter(Boolean)) {
    const [role, hash] = entry.split(':')
    if (!isRole(role) || !hash || !/^[0-9a-f]{64}$/.test(hash)) throw new Error('API_KEYS must be comma-separated role:sha256hex entries')
    fromEnv.set(hash, { id: hash.slice(0, 12), role })
  }
  return fromEnv
}

/** Every key, from the file and from API_KEYS, with its state; oldest first. */
export function listApiKeys (dataDir: string, env?: string): ApiKeyInfo[] {
  const { keys, revoked } = readKeyFile(dataDir)
  const out: ApiKeyInfo[] = []
  for (const k of parseEnvKeys(env).values()) out.push({ id: k.id, role: k.role, name: '', source: 'env', created: null, revoked_at: revoked.get(k.id) ?? null })
  for (const k of keys.values()) out.push({ id: k.id, role: k.role, name: k.name ?? '', source: 'file', created: k.created || null, revoked_at: revoked.get(k.id) ?? null })
  return out
}

/** Revokes a key by id; false when no such key is active. Takes effect within a second. */
export function revokeApiKey (dataDir: string, id: string, env?: string): boolean {
  const known = listApiKeys(dataDir, env).find(k => k.id === id && k.revoked_at === null)
  if (!known) return false
  appendLines(dataDir, [{ op: 'revoke', id, at: new Date().toISOString() }])
  return true
}

/** A new key with the role and name of an active key, which is revoked in the same append; null when no such key is active. */
export function rotateApiKey (dataDir: string, id: string, env?: string): (NewApiKey & { replaces: string }) | null {
  const known = listApiKeys(dataDir, env).find(k => k.id === id && k.revoked_at === null)
  if (!known) return null
  const at = new Date().toISOString()
  const made = newLine(known.role, known.name, at)
  appendLines(dataDir, [made.line, { op: 'revoke', id, at }])
  return { id: made.line.id, role: known.role, name: known.name, key: made.key, replaces: id }
}

export interface ApiKeyStore {
  /** The key's id and role, or null for an unknown key. */
  verify: (key: string) => ApiKey | null
  size: () => number
  /** A line of another node's key file (the Redis registry stream): a key made there, or a revocation, applies here too. */
  apply: (line: string) => void
}

/** @param env API_KEYS: comma-separated role:sha256hex */
export function openApiKeyStore (dataDir: string, env?: string): ApiKeyStore {
  const file = apiKeysFile(dataDir)
  const fromEnv = parseEnvKeys(env)
  let fromFile = new Map<string, ApiKey>()
  let revoked = new Set<string>()
  // from other machines' files, through the registry stream
  const fromStream = new Map<string, ApiKey>()
  const revokedElsewhere = new Set<string>()
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
    const state = readKeyFile(dataDir)
    const next = new Map<string, ApiKey>()
    for (const [hash, k] of state.keys) if (!state.revoked.has(k.id)) next.set(hash, { id: k.id, role: k.role })
    fromFile = next
    revoked = new Set(state.revoked.keys())
  }

  function lookup (hash: string): ApiKey | null {
    const known = fromEnv.get(hash) ?? fromFile.get(hash) ?? fromStream.get(hash) ?? null
    if (known === null || revoked.has(known.id) || revokedElsewhere.has(known.id)) return null
    return known
  }

  return {
    verify (key) {
      if (typeof key !== 'string' || key.length < 8 || key.length > 256) return null
      reload(false)
      const hash = sha256(key)
      const known = lookup(hash)
      if (known) return known
      reload(true)
      return lookup(hash)
    },
    size () {
      reload(true)
      let n = 0
      for (const k of fromFile.values()) if (!revokedElsewhere.has(k.id)) n++
      for (const [hash, k] of fromStream) if (!fromFile.has(hash) && !revoked.has(k.id) && !revokedElsewhere.has(k.id)) n++
      for (const k of fromEnv.values()) if (!revoked.has(k.id) && !revokedElsewhere.has(k.id)) n++
      return n
    },
    apply (line) {
      let k: Partial<StoredKey> & Partial<RevokeLine>
      try { k = JSON.parse(line) as typeof k } catch { return }
      if (k.op === 'revoke' && typeof k.id === 'string') revokedElsewhere.add(k.id)
      else if (typeof k.sha256 === 'string' && /^[0-9a-f]{64}$/.test(k.sha256) && typeof k.id === 'string' && isRole(k.role)) fromStream.set(k.sha256, { id: k.id, role: k.role })
    }
  }
}
