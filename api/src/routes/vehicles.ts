// GET /vehicles: latest position per vehicle. GET /vehicles/:id/readings: raw
// history, keyset-paginated on ts (QuestDB has no OFFSET; ts is unique per
// vehicle thanks to DEDUP UPSERT KEYS(ts, vehicle_id)).
import type { FastifyPluginAsync } from 'fastify'
import { VEHICLE_ID_PATTERN } from '../../../schemas/topics.js'
import { microsToIso, toEpochMicros } from '../../../gateway/src/ingest/timestamps.js'
import { ApiError } from '../plugins/errors.js'
import { LATEST_SQL, READINGS_PAGE_SQL, rowToPosition } from '../readings-sql.js'

export const MAX_RANGE_DAYS = 31
export const MAX_LIMIT = 10000

interface ReadingsQuery { from?: string, to?: string, limit: number, cursor?: string }

function encodeCursor (tsUs: number): string {
  return Buffer.from(String(tsUs)).toString('base64url')
}

function decodeCursor (cursor: string): number {
  const us = Number(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!Number.isSafeInteger(us) || us < 0) throw new ApiError('API_ERR_BAD_CURSOR', 400, 'cursor is not one this API issued; pass next_cursor from the previous page unchanged')
  return us
}

const vehicles: FastifyPluginAsync = async (fastify) => {
  fastify.get('/vehicles', async () => {
    const { rows } = await fastify.questdb.query(LATEST_SQL)
    const list = rows.map(r => rowToPosition(r)).sort((a, b) => a.vehicle_id < b.vehicle_id ? -1 : 1)
    return { vehicles: list.map(p => ({ vehicle_id: p.vehicle_id, last_seen: p.ts, position: p })) }
  })

  fastify.get<{ Params: { id: string }, Querystring: ReadingsQuery }>('/vehicles/:id/readings', {
    schema: {
      params: { type: 'object', properties: { id: { type: 'string', pattern: VEHICLE_ID_PATTERN.source } }, required: ['id'] },
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          from: { type: 'string', format: 'date-time', description: 'inclusive; default: 24 h before `to`' },
          to: { type: 'string', format: 'date-time', description: 'exclusive; default: now' },
          limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 1000 },
          cursor: { type: 'string', maxLength: 64 }
        }
      }
    }
  }, async (request) => {
    const { id } = request.params
    const q = request.query
    const toUs = q.to ? toEpochMicros(q.to) : Date.now() * 1000
    let fromUs = q.from ? toEpochMicros(q.from) : toUs - 86400e6
    if (toUs <= fromUs) throw new ApiError('API_ERR_BAD_RANGE', 400, '`to` must be after `from`')
    if (toUs - fromUs > MAX_RANGE_DAYS * 86400e6) throw new ApiError('API_ERR_RANGE_TOO_LARGE', 400, `time range exceeds ${MAX_RANGE_DAYS} days; narrow from/to and page through`)
    if (q.cursor) fromUs = Math.max(fromUs, decodeCursor(q.cursor) + 1)
    const { rows } = await fastify.questdb.query(READINGS_PAGE_SQL, [id, microsToIso(fromUs), microsToIso(toUs), q.limit])
    const readings = rows.map(r => rowToPosition(r, id))
    const last = rows[rows.length - 1]
    return {
      vehicle_id: id,
      readings,
      next_cursor: rows.length === q.limit && last ? encodeCursor(Number(last.ts_us)) : null
    }
  })
}

export default vehicles
