// Keyset pagination cursors (QuestDB has no OFFSET): the key of the last row
// of a page, opaque to clients. A page resumes strictly after that key, so rows
// ingested meanwhile never shift a page and each row is returned once. The
// tie-breaker is a vehicle id or an event type; both match VEHICLE_ID_PATTERN.
import { VEHICLE_ID_PATTERN } from '../../schemas/topics.js'
import { ApiError } from './plugins/errors.js'
import { microsToIso } from '../../gateway/src/ingest/timestamps.js'

const VERSION = 1

export function encodeCursor (tsUs: number, tie?: string): string {
  return Buffer.from(JSON.stringify(tie === undefined ? [VERSION, tsUs] : [VERSION, tsUs, tie])).toString('base64url')
}

const bad = (): ApiError => new ApiError('API_ERR_BAD_CURSOR', 400, 'cursor is not one this API issued; pass next_cursor from the previous page unchanged')

export function decodeCursor (cursor: string): { tsUs: number, tie: string | undefined } {
  let parsed: unknown
  try { parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) } catch { throw bad() }
  if (!Array.isArray(parsed) || parsed[0] !== VERSION || parsed.length > 3) throw bad()
  const [, tsUs, tie] = parsed as [number, unknown, unknown]
  if (typeof tsUs !== 'number' || !Number.isSafeInteger(tsUs) || tsUs < 0) throw bad()
  if (tie !== undefined && (typeof tie !== 'string' || !VEHICLE_ID_PATTERN.test(tie))) throw bad()
  return { tsUs, tie: tie as string | undefined }
}

/**
 * The SQL condition that resumes strictly after a cursor's key (ts, then the
 * tie column), its values appended to params as bind parameters. tieColumn is
 * a fixed column name from the caller, never input.
 */
export function afterCursor (cursor: string, tieColumn: string, params: unknown[]): string {
  const c = decodeCursor(cursor)
  params.push(microsToIso(c.tsUs), c.tie ?? '')
  const ts = `$${params.length - 1}`
  return `(ts > ${ts} OR (ts = ${ts} AND ${tieColumn} > $${params.length}))`
}
