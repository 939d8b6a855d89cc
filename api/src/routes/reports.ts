// GET /reports/daily: per vehicle and UTC day, distance, driving and idling
// time, trips, stops and top speed, for the whole fleet or one vehicle, from
// the same trip detection as /vehicles/:id/trips, recomputed per vehicle only
// when its readings of that day changed (trips/trip-query.ts).
import type { FastifyPluginAsync } from 'fastify'
import type { DailyReport, DailyReportQuery } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { API_ERR_BAD_RANGE } from '../errors.js'
import { DAY_US } from '../queries/time-range.js'
import { createDailyReports, type TripOptions } from '../trips/trip-query.js'
import { errorResponses } from './route-schemas.js'
import { toCsv } from './trips.js'

type Query = DailyReportQuery & Required<Pick<DailyReportQuery, 'format'>>

const COLUMNS = ['vehicle_id', 'distance_km', 'driving_s', 'idling_s', 'trips', 'stops', 'max_speed_kmh'] as const

const reports: FastifyPluginAsync<TripOptions> = async (fastify, opts) => {
  const daily = createDailyReports(opts)
  fastify.get<{ Querystring: Query }>('/reports/daily', {
    config: { role: 'read' },
    schema: {
      summary: 'Daily report: per vehicle, distance, driving and idling time, trips, stops, top speed',
      description: 'One line per vehicle with readings on that UTC day (or only `vehicle_id`), by vehicle id. Trips and stops are cut at midnight.',
      tags: ['trips'],
      security: [{ apiKey: [] }],
      querystring: ref('daily-report-query'),
      response: {
        200: {
          description: 'The report, in the format asked for',
          content: {
            'application/json': { schema: ref('daily-report') },
            'text/csv': { schema: { type: 'string' } }
          }
        },
        ...errorResponses
      }
    }
  }, async (request, reply) => {
    const q = request.query
    const fromMs = Date.parse(`${q.date}T00:00:00Z`)
    if (!Number.isFinite(fromMs)) throw new API_ERR_BAD_RANGE('date must be a calendar day, YYYY-MM-DD')
    const fromUs = fromMs * 1000
    const lines = await daily.lines(fastify.questdb, fromUs, fromUs + DAY_US, q.vehicle_id)
    if (q.format === 'csv') {
      return await reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="daily-${q.date}.csv"`).send(toCsv(COLUMNS, lines))
    }
    const body: DailyReport = { date: q.date, vehicles: lines }
    return await reply.type('application/json').send(body)
  })
}

export default reports
