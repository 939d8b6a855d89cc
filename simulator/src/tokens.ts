// Tokens as the gateway's scheme requires: issued into the device registry of
// the gateway's DATA_DIR (as `fleetgate token` does), and kept in a side file
// so that later runs reuse them instead of rotating every vehicle's token.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { issueToken, openDeviceRegistry } from '../../gateway/src/index.js'

export function obtainTokens (dataDir: string, ids: string[]): Map<string, string> {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'simulator-tokens.json')
  const known: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, string> : {}
  const registry = openDeviceRegistry(dataDir)
  const out = new Map<string, string>()
  let changed = false
  for (const id of ids) {
    let token = known[id]
    if (!token || !registry.verify(id, token)) {
      token = issueToken(dataDir, id)
      known[id] = token
      changed = true
    }
    out.set(id, token)
  }
  registry.close()
  if (changed) writeFileSync(file, JSON.stringify(known), { mode: 0o600 })
  return out
}
