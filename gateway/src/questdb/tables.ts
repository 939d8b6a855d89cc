// Creates the tables from schemas/tables.sql through QuestDB's /exec endpoint
// (idempotent), then applies the retention as TTL; and picks the ILP protocol.
import { readFile } from 'node:fs/promises'

const TABLES_SQL = new URL('../../../schemas/tables.sql', import.meta.url)
export const TABLES = ['readings', 'events', 'vehicle_status', 'rejections', 'alerts'] as const

/** 1: doubles as text (any QuestDB); 2: doubles as 8 binary bytes (QuestDB 9.0 and later). */
export type IlpProtocolVersion = 1 | 2

export async function ddlStatements (): Promise<string[]> {
  const text = await readFile(TABLES_SQL, 'utf8')
  return text.split(/^;\s*$/m)
    .map(s => s.split('\n').filter(l => !l.trim().startsWith('--')).join('\n').trim())
    .filter(s => s.length > 0)
}

export async function execSql (httpUrl: string, sql: string): Promise<unknown> {
  const res = await fetch(`${httpUrl}/exec?query=${encodeURIComponent(sql)}`, { signal: AbortSignal.timeout(30000) })
  const body = await res.json() as { error?: string }
  if (!res.ok || body.error) throw new Error(`questdb refused ${sql.split('\n')[0]}: ${body.error ?? res.status}`)
  return body
}

export async function createTables (httpUrl: string, retentionDays: number): Promise<void> {
  for (const sql of await ddlStatements()) await execSql(httpUrl, sql)
  const days = Math.trunc(retentionDays)
  for (const table of TABLES) await execSql(httpUrl, `ALTER TABLE ${table} SET TTL ${days} DAYS`)
}

/**
 * The ILP protocol to write with: the configured one, or for `auto` 2 when
 * QuestDB's /settings lists it in `line.proto.support.versions` (9.0 and
 * later), else 1 (older servers have no /settings or list no versions).
 */
export async function ilpProtocolVersion (httpUrl: string, setting: 'auto' | '1' | '2'): Promise<IlpProtocolVersion> {
  if (setting !== 'auto') return setting === '2' ? 2 : 1
  const res = await fetch(`${httpUrl}/settings`, { signal: AbortSignal.timeout(30000) })
  if (!res.ok) return 1
  const body = await res.json() as { config?: Record<string, unknown> }
  const versions = body.config?.['line.proto.support.versions']
  return Array.isArray(versions) && versions.map(String).includes('2') ? 2 : 1
}
