// Small pg-wire helpers against QuestDB, shared by the api, the simulator's --verify,
// the benchmarks and the tests. node-postgres reads QuestDB timestamps as local
// time and drops microseconds, so callers select `cast(ts AS long)`; count()
// arrives as a string.
import pg from 'pg'

export async function query<R extends Record<string, unknown> = Record<string, unknown>> (pgUrl: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: pgUrl })
  await client.connect()
  try {
    return (await client.query(text, params)).rows as R[]
  } finally {
    await client.end()
  }
}

export async function count (pgUrl: string, text: string, params: unknown[] = []): Promise<number> {
  const rows = await query<{ n: string }>(pgUrl, text, params)
  return Number(rows[0]?.n ?? 0)
}

/** Polls until check() returns true (rows become visible after the WAL is applied). */
export async function pollUntil (check: () => Promise<boolean>, timeoutMs = 30000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let delay = 50
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, delay))
    delay = Math.min(delay * 2, 500)
  }
}

/** Waits until QuestDB has applied every committed WAL transaction of every table. */
export async function waitWalApplied (pgUrl: string, timeoutMs = 60000): Promise<void> {
  await pollUntil(async () => {
    const rows = await query<{ writerTxn: string, sequencerTxn: string, suspended: boolean }>(pgUrl, 'SELECT writerTxn, sequencerTxn, suspended FROM wal_tables()')
    return rows.every(r => !r.suspended && Number(r.writerTxn) >= Number(r.sequencerTxn))
  }, timeoutMs, 'WAL applied')
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND'])
// PostgreSQL SQLSTATE class 08 (connection exception) and 57P01-57P03 (shutdown, cannot connect now)
const PG_CODE = /^(08...|57P0[123])$/
// node-postgres says these in words only
const PG_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Connection ended unexpectedly|Client has encountered a connection error)/

/** True for an error of a QuestDB that could not be reached, as opposed to one that refused a query. */
export function isUnreachable (err: unknown): boolean {
  const e = err as { code?: unknown, message?: unknown } | null
  if (typeof e?.code === 'string' && (NET_CODES.has(e.code) || PG_CODE.test(e.code))) return true
  return typeof e?.message === 'string' && PG_MESSAGES.test(e.message)
}
