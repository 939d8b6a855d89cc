// from/to of the history endpoints: RFC 3339 in, epoch microseconds out;
// `from` inclusive, `to` exclusive, bounded so one request cannot scan a year.
import { toEpochMicros } from '../../../schemas/timestamps.js'
import { API_ERR_BAD_RANGE, API_ERR_RANGE_TOO_LARGE } from '../errors.js'

export const DAY_US = 86400e6

export interface Range { fromUs: number, toUs: number }

export function parseRange (q: { from?: string | undefined, to?: string | undefined }, maxDays: number, defaultSpanUs = DAY_US, now = Date.now()): Range {
  const toUs = q.to ? toEpochMicros(q.to) : now * 1000
  const fromUs = q.from ? toEpochMicros(q.from) : toUs - defaultSpanUs
  if (!Number.isFinite(toUs) || !Number.isFinite(fromUs)) throw new API_ERR_BAD_RANGE('from and to must be RFC 3339 date-times with a zone')
  if (toUs <= fromUs) throw new API_ERR_BAD_RANGE('`to` must be after `from`')
  if (toUs - fromUs > maxDays * DAY_US) throw new API_ERR_RANGE_TOO_LARGE(maxDays)
  return { fromUs, toUs }
}
