// Keyset pagination cursors (QuestDB has no OFFSET): the key of the last row
// of a page, opaque to clients. A page resumes strictly after that key, so rows
// ingested meanwhile never shift a page and each row is returned once. The
// tie-breaker is a vehicle id or an event type; both match VEHICLE_ID_PATTERN.
import { VEHICLE_ID_PATTERN } from '../../../schemas/topics.js'
import { API_ERR_BAD_CURSOR } from '../errors.js'
import { microsToIso } from '../../../schemas/timestamps.js'

const VERSION = 1

/** asc: oldest first; desc: newest first. */
export type Order = 'asc' | 'desc'

/** A cursor of an asc page keeps its original form ([1, ts] or [1, ts, tie]); a desc one says so. */
export function encodeCursor (tsUs: number, tie?: string, order: Order = 'asc'): string {
  const key = order === 'desc' ? [VERSION, tsUs, tie ?? null, 'desc'] : tie === undefined ? [VERSION, tsUs] : [VERSION, tsUs, tie]
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

const bad = () => new API_ERR_BAD_CURSOR('cursor is not one this API issued; pass next_cursor from the previous page unchanged')

export function decodeCursor (cursor: string): { tsUs: number, tie: string | undefined, order: Order } {
  let parsed: unknown
  try { parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) } catch { throw bad() }
  if (!Array.isArray(parsed) || parsed[0] !== VERSION || parsed.length > 4) throw bad()
  const [, tsUs, rawTie, rawOrder] = parsed as [number, unknown, unknown, unknown]
  if (rawOrder !== undefined && rawOrder !== 'desc') throw bad()
  const tie = rawOrder === 'desc' && rawTie === null ? undefined : rawTie
  if (typeof tsUs !== 'number' || !Number.isSafeInteger(tsUs) || tsUs < 0) throw bad()
  if (tie !== undefined && (typeof tie !== 'string' || !VEHICLE_ID_PATTERN.test(tie))) throw bad()
  return { tsUs, tie: tie as string | undefined, order: rawOrder === 'desc' ? 'desc' : 'asc' }
}

/** The cursor's key, refused when it was issued for the other order (it would skip or repeat rows). */
export function decodeCursorFor (cursor: string, order: Order): { tsUs: number, tie: string | undefined } {
  const c = decodeCursor(cursor)
  if (c.order !== order) throw new API_ERR_BAD_CURSOR(`cursor was issued for order=${c.order}; pass the same order with it`)
  return c
}

/**
 * The SQL condition that resumes strictly after a cursor's key (ts, then the
 * tie column) in the page order, its values appended to params as bind
 * parameters. tieColumn is a fixed column name from the caller, never input.
 */
export function afterCursor (cursor: string, tieColumn: string, params: unknown[], order: Order = 'asc'): string {
  const c = decodeCursorFor(cursor, order)
  params.push(microsToIso(c.tsUs), c.tie ?? '')
  const ts = `$${params.length - 1}`
  const op = order === 'desc' ? '<' : '>'
  return `(ts ${op} ${ts} OR (ts = ${ts} AND ${tieColumn} ${op} $${params.length}))`
}

/** ORDER BY for a page keyed on (ts, tieColumn): fixed text chosen by the order, never input. */
export function orderBy (tieColumn: string, order: Order): string {
  return order === 'desc' ? `ts DESC, ${tieColumn} DESC` : `ts, ${tieColumn}`
}
