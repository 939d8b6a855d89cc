// GET /rejections: the quarantine, oldest or newest first (order), filtered
// by vehicle and reason, keyset-paginated on (ts, vehicle_id) (the table's
// DEDUP key) in either order.
import type { FastifyPluginAsync } from 'fastify'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { RejectionList, RejectionsQuery } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { afterCursor, encodeCursor, orderBy } from '../queries/cursor.js'
import { parseRange } from '../queries/time-range.js'
import { errorResponses } from './route-schemas.js'

export const MAX_REJECTION_RANGE_DAYS = 31

type Query = RejectionsQuery & Required<Pick<RejectionsQuery, 'limit' | 'order'>>

const rejections: FastifyPluginAsync = async (fastify) => {
  fastify.get<{ Querystring: Query }>('/rejections', {
    config: { role: 'read' },
    schema: {
      summary: 'Quarantined payloads and readings, with their reason; oldest or newest first',
      tags: ['rejections'],
      security: [{ apiKey: [] }],
      querystring: ref('rejections-query'),
      response: { 200: ref('rejection-list'), ...errorResponses }
    }
  }, async (request): Promise<RejectionList> => {
    const q = request.query
    const { fromUs, toUs } = parseRange(q, MAX_REJECTION_RANGE_DAYS)
    const params: unknown[] = [microsToIso(fromUs), microsToIso(toUs)]
    // fixed fragments only; every value is a bind parameter
    let where = 'ts >= $1 AND ts < $2'
    if (q.vehicle_id) { params.push(q.vehicle_id); where += ` AND vehicle_id = $${params.length}` }
    if (q.reason) { params.push(q.reason); where += ` AND reason = $${params.length}` }
    if (q.cursor) where += ` AND ${afterCursor(q.cursor, 'vehicle_id', params, q.order)}`
    params.push(q.limit)
    const sql = `SELECT cast(ts AS long) ts_us, vehicle_id, topic, reason, detail, payload FROM rejections WHERE ${where} ORDER BY ${orderBy('vehicle_id', q.order)} LIMIT $${params.length}`
    const { rows } = await fastify.questdb.query(sql, params)
    const last = rows[rows.length - 1]
    return {
      rejections: rows.map(r => ({ ts: microsToIso(Number(r.ts_us)), vehicle_id: r.vehicle_id, topic: r.topic ?? '', reason: r.reason, detail: r.detail ?? '', payload: r.payload ?? '' })),
      next_cursor: rows.length === q.limit && last ? encodeCursor(Number(last.ts_us), String(last.vehicle_id), q.order) : null
    }
  })
}

export default rejections
