// GET /vehicles/:id/events: a vehicle's events, oldest or newest first
// (order), optionally of one type, keyset-paginated on (ts, type) in either
// order: the DEDUP key allows one event of each type per instant.
import type { FastifyPluginAsync } from 'fastify'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { EventList, EventsQuery, StoredEvent } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { afterCursor, encodeCursor, orderBy } from '../queries/cursor.js'
import { parseRange } from '../queries/time-range.js'
import { errorResponses, idParams } from './route-schemas.js'

export const MAX_EVENT_RANGE_DAYS = 31

type Query = EventsQuery & Required<Pick<EventsQuery, 'limit' | 'order'>>

const events: FastifyPluginAsync = async (fastify) => {
  fastify.get<{ Params: { id: string }, Querystring: Query }>('/vehicles/:id/events', {
    config: { role: 'read' },
    schema: {
      summary: 'Events of a vehicle, oldest or newest first',
      tags: ['events'],
      security: [{ apiKey: [] }],
      params: idParams,
      querystring: ref('events-query'),
      response: { 200: ref('event-list'), ...errorResponses }
    }
  }, async (request): Promise<EventList> => {
    const { id } = request.params
    const q = request.query
    const { fromUs, toUs } = parseRange(q, MAX_EVENT_RANGE_DAYS)
    const params: unknown[] = [id, microsToIso(fromUs), microsToIso(toUs)]
    // fixed fragments only; every value is a bind parameter
    let where = 'vehicle_id = $1 AND ts >= $2 AND ts < $3'
    if (q.type) { params.push(q.type); where += ` AND type = $${params.length}` }
    if (q.cursor) where += ` AND ${afterCursor(q.cursor, 'type', params, q.order)}`
    params.push(q.limit)
    const sql = `SELECT cast(ts AS long) ts_us, type, lat, lon, data, cast(received_at AS long) received_us FROM events WHERE ${where} ORDER BY ${orderBy('type', q.order)} LIMIT $${params.length}`
    const { rows } = await fastify.questdb.query(sql, params)
    const list = rows.map(r => {
      const e: StoredEvent = { vehicle_id: id, ts: microsToIso(Number(r.ts_us)), type: r.type }
      if (r.lat !== null) e.lat = r.lat
      if (r.lon !== null) e.lon = r.lon
      if (typeof r.data === 'string') { try { e.data = JSON.parse(r.data) } catch { /* stored by the gateway as JSON; never expected */ } }
      if (r.received_us !== null) e.received_at = microsToIso(Number(r.received_us))
      return e
    })
    const last = rows[rows.length - 1]
    return { vehicle_id: id, events: list, next_cursor: rows.length === q.limit && last ? encodeCursor(Number(last.ts_us), String(last.type), q.order) : null }
  })
}

export default events
