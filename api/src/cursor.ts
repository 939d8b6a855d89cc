// Keyset pagination cursors (QuestDB has no OFFSET): the key of the last row
// of a page, opaque to clients. A page resumes strictly after that key, so rows
// ingested meanwhile never shift a page and each row is returned once. The
// tie-breaker is a vehicle id or an event type; both match VEHICLE_ID_PATTERN.
import { VEHICLE_ID_PATTERN } from '../../schemas/topics.js'
import { ApiError } from './plugins/errors.js'

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
