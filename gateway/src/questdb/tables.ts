// Creates the tables from schemas/tables.sql through QuestDB's /exec endpoint
// (idempotent), then applies the retention as TTL.
import { readFile } from 'node:fs/promises'

const TABLES_SQL = new URL('../../../schemas/tables.sql', import.meta.url)
export const TABLES = ['readings', 'events', 'vehicle_status', 'rejections'] as const

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
