// GET /vehicles/:id/trips and /vehicles/:id/stops: trips and stops derived
// from the readings at request time (trips/trip-query.ts), as JSON or CSV.
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { StopList, TripList, TripsQuery } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { parseRange } from '../queries/time-range.js'
import { toStop, toTrip, vehicleTrips, type TripOptions } from '../trips/trip-query.js'
import { errorResponses, idParams } from './route-schemas.js'

export const MAX_TRIPS_DAYS = 31

type Query = TripsQuery & Required<Pick<TripsQuery, 'format'>>

export const TRIP_COLUMNS = ['start', 'end', 'start_lat', 'start_lon', 'end_lat', 'end_lon', 'duration_s', 'distance_km', 'distance_source', 'max_speed_kmh', 'avg_speed_kmh', 'fuel_used_pct'] as const
export const STOP_COLUMNS = ['start', 'end', 'lat', 'lon', 'duration_s', 'idle_s', 'ignition'] as const

/** CSV with a header row; every value is a number, a boolean, an RFC 3339 time or an enum word: nothing to quote. */
export function toCsv<K extends string> (columns: readonly K[], rows: Array<Record<K, unknown>>): string {
  const lines = [columns.join(',')]
  for (const r of rows) lines.push(columns.map(c => r[c] ?? '').join(','))
  return lines.join('\r\n') + '\r\n'
}

async function sendCsv (reply: FastifyReply, name: string, text: string): Promise<FastifyReply> {
  return await reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(text)
}

const trips: FastifyPluginAsync<TripOptions> = async (fastify, opts) => {
  const schema = (what: 'trips' | 'stops', summary: string, description: string) => ({
    summary,
    description,
    tags: ['trips'],
    security: [{ apiKey: [] }],
    params: idParams,
    querystring: ref('trips-query'),
    response: {
      200: {
        description: `The ${what}, oldest first, in the format asked for`,
        content: {
          'application/json': { schema: ref(what === 'trips' ? 'trip-list' : 'stop-list') },
          'text/csv': { schema: { type: 'string' } }
        }
      },
      ...errorResponses
    }
  })

  fastify.get<{ Params: { id: string }, Querystring: Query }>('/vehicles/:id/trips', {
    config: { role: 'read' },
    schema: schema('trips', 'Trips of a vehicle, derived from its readings', 'A trip starts when the vehicle moves (TRIP_START, TRIP_SPEED_KMH) and ends at a stop of at least TRIP_MIN_STOP_S or a data gap over TRIP_GAP_S; trips shorter than TRIP_MIN_S are left out. Computed from the stored readings at request time, so late readings count as soon as they are stored.')
  }, async (request, reply) => {
    const { id } = request.params
    const { fromUs, toUs } = parseRange(request.query, MAX_TRIPS_DAYS)
    const found = (await vehicleTrips(fastify.questdb, id, fromUs, toUs, opts)).trips.map(toTrip)
    if (request.query.format === 'csv') return await sendCsv(reply, `${id}-trips`, toCsv(TRIP_COLUMNS, found))
    const body: TripList = { vehicle_id: id, from: microsToIso(fromUs), to: microsToIso(toUs), trips: found }
    return await reply.type('application/json').send(body)
  })

  fastify.get<{ Params: { id: string }, Querystring: Query }>('/vehicles/:id/stops', {
    config: { role: 'read' },
    schema: schema('stops', 'Stops of a vehicle, derived from its readings', 'A stop is a standing spell of at least TRIP_MIN_STOP_S between trips (or a data gap, or the range\'s bounds), with the seconds it idled (ignition on).')
  }, async (request, reply) => {
    const { id } = request.params
    const { fromUs, toUs } = parseRange(request.query, MAX_TRIPS_DAYS)
    const found = (await vehicleTrips(fastify.questdb, id, fromUs, toUs, opts)).stops.map(toStop)
    if (request.query.format === 'csv') return await sendCsv(reply, `${id}-stops`, toCsv(STOP_COLUMNS, found))
    const body: StopList = { vehicle_id: id, from: microsToIso(fromUs), to: microsToIso(toUs), stops: found }
    return await reply.type('application/json').send(body)
  })
}

export default trips
