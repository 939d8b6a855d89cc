// --verify: what the simulator had acknowledged against what QuestDB holds.
// Readings are keyed by (vehicle_id, ts), the table's DEDUP UPSERT KEYS. Per
// vehicle, a count and a checksum of the timestamps are compared in one
// grouped query; only vehicles that differ are fetched key by key. The
// faults sent on purpose must be found in `rejections` with their reason.
// QuestDB may be restarting meanwhile (with the gateway, or alone): every
// query is retried until the deadline, its address looked up again each time.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isUnreachable, query as queryAt } from '../../lib/questdb/sql.js'
import type { Ledger } from './simulate.js'

export interface VerifyResult {
  ok: boolean
  expected: number
  found: number
  missing: number
  duplicated: number
  /** Rows of the run's vehicles that were not acknowledged (sent, PUBACK never seen): allowed up to `unacked`. */
  unexpected: number
  /** Up to 10 missing keys, for the report. */
  missingExamples: Array<{ vehicle_id: string, ts: string }>
  rejections: Record<string, { expected: number, found: number }>
  waitedMs: number
}

/** The pg URL from --pg-url, QUESTDB_PG_URL, or the managed QuestDB's DATA_DIR/questdb/addresses.json. */
export function resolvePgUrl (explicit: string | undefined, dataDir: string): string | null {
  if (explicit) return explicit
  if (process.env.QUESTDB_PG_URL) return process.env.QUESTDB_PG_URL
  const file = join(dataDir, 'questdb', 'addresses.json')
  if (!existsSync(file)) return null
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { pgUrl?: string }).pgUrl ?? null
  } catch {
    return null // removed or half-written by a gateway that is stopping or starting
  }
}

/** The pg URL, or a way to find it again (a restarted gateway may have rewritten addresses.json). */
export type PgSource = string | (() => string | null)

/** Thrown when QuestDB could not be reached before the deadline. */
export class VerifyUnreachableError extends Error {}

function connector (pg: PgSource, deadline: number) {
  return async function query<R extends Record<string, unknown>> (text: string, params: unknown[] = []): Promise<R[]> {
    for (;;) {
      const url = typeof pg === 'string' ? pg : pg()
      try {
        if (url) return await queryAt<R>(url, text, params)
      } catch (err) {
        if (!isUnreachable(err)) throw err
        if (Date.now() > deadline) throw new VerifyUnreachableError(`QuestDB unreachable at ${(url ?? '').replace(/:[^:@/]+@/, ':***@')}: ${(err as Error).message}`)
      }
      if (!url && Date.now() > deadline) throw new VerifyUnreachableError('QuestDB not found (no pg URL)')
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }
}

function iso (ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z')
}

/** Seconds without a new row before a QoS 0 verify stops waiting. */
const STALL_S = 5

export async function verify (ledger: Ledger, pg: PgSource, { timeoutMs = 120000 }: { timeoutMs?: number } = {}): Promise<VerifyResult> {
  const t0 = Date.now()
  const query = connector(pg, t0 + timeoutMs)
  const waitWalApplied = async (): Promise<void> => {
    for (;;) {
      const rows = await query<{ writerTxn: string, sequencerTxn: string, suspended: boolean }>('SELECT writerTxn, sequencerTxn, suspended FROM wal_tables()')
      if (rows.every(r => !r.suspended && Number(r.writerTxn) >= Number(r.sequencerTxn))) return
      if (Date.now() > t0 + timeoutMs) throw new Error(`WAL not applied within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  // what QuestDB answered 2xx to is counted once its WAL is applied: wait for
  // that, not a sleep
  await waitWalApplied()
  const ours = new Set(ledger.vehicleIds)
  const from = iso(ledger.minTsMs)
  const to = iso(ledger.maxTsMs)
  {
    // QoS 0 has no PUBACK, and a QoS 1 PUBACK under ACK_MODE=spool means the
    // spool holds it, not QuestDB: what was written may still be on its way
    // (several gateway workers each drain their own spool). Wait until the
    // count reaches what was sent, or has not grown for STALL_S (one poll was
    // too short: a gateway draining a backlog sends a batch every second or
    // so, and the rows still in its spool were counted as missing).
    const want = [...ledger.byVehicle.values()].reduce((n, a) => n + a.length, 0)
    const deadline = Date.now() + timeoutMs
    let last = -1
    let still = 0
    for (;;) {
      const rows = await query<{ n: string }>('SELECT count() n FROM readings WHERE ts >= $1 AND ts <= $2', [from, to])
      const n = Number(rows[0]?.n ?? 0)
      still = n === last ? still + 1 : 0
      if (n >= want || still >= STALL_S || Date.now() > deadline) break
      last = n
      await new Promise(resolve => setTimeout(resolve, 1000))
      await waitWalApplied()
    }
  }
  const base = ledger.minTsMs
  const rows = await query<{ vehicle_id: string, n: string, d: string, s: string }>(
    'SELECT vehicle_id, count() n, count_distinct(ts) d, sum((cast(ts AS long) / 1000) - $1) s FROM readings WHERE ts >= $2 AND ts <= $3',
    [String(base), from, to])
  const inDb = new Map<string, { n: number, d: number, s: number }>()
  for (const r of rows) if (ours.has(r.vehicle_id)) inDb.set(r.vehicle_id, { n: Number(r.n), d: Number(r.d), s: Number(r.s) })

  let expected = 0
  let found = 0
  let missing = 0
  let duplicated = 0
  let unexpected = 0
  const missingExamples: VerifyResult['missingExamples'] = []
  for (const id of ledger.vehicleIds) {
    const want = ledger.byVehicle.get(id) ?? []
    expected += want.length
    const got = inDb.get(id) ?? { n: 0, d: 0, s: 0 }
    found += got.n
    duplicated += got.n - got.d
    const sum = want.reduce((a, ts) => a + (ts - base), 0)
    if (got.d === want.length && got.s === sum) continue
    // differs: compare key by key
    const keys = await query<{ t: string }>('SELECT cast(ts AS long) t FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts <= $3', [id, from, to])
    const have = new Set(keys.map(k => Math.floor(Number(k.t) / 1000)))
    const wantSet = new Set(want)
    for (const ts of want) {
      if (!have.has(ts)) {
        missing++
        if (missingExamples.length < 10) missingExamples.push({ vehicle_id: id, ts: new Date(ts).toISOString() })
      }
    }
    for (const ts of have) if (!wantSet.has(ts)) unexpected++
  }

  const rejections: VerifyResult['rejections'] = {}
  for (const [reason, n] of Object.entries(ledger.quarantinedAcked)) rejections[reason] = { expected: n, found: 0 }
  const rej = await query<{ vehicle_id: string, reason: string, n: string }>(
    'SELECT vehicle_id, reason, count() n FROM rejections WHERE ts >= $1 AND ts <= $2',
    [iso(ledger.startedAtMs - 1000), iso(Date.now() + 1000)])
  for (const r of rej) {
    if (!ours.has(r.vehicle_id)) continue
    const e = rejections[r.reason] ??= { expected: 0, found: 0 }
    e.found += Number(r.n)
  }
  // QoS 0 has no acknowledgement: a fault sent may be lost on the way, so only more-than-sent fails
  const rejOk = Object.values(rejections).every(x => ledger.qos === 1 ? x.found === x.expected : x.found <= x.expected)
  const ok = missing === 0 && duplicated === 0 && unexpected <= ledger.unacked && rejOk
  return { ok, expected, found, missing, duplicated, unexpected, missingExamples, rejections, waitedMs: Date.now() - t0 }
}
