// GET /vehicles/:id/track: a downsampled track, never more than max_points
// points, computed in QuestDB (SAMPLE BY), as JSON, GeoJSON, GPX or CSV.
import type { FastifyPluginAsync } from 'fastify'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { Track, TrackQuery } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { bucketFor, trackSql } from '../queries/readings-sql.js'
import { parseRange } from '../queries/time-range.js'
import { errorResponses, idParams } from './route-schemas.js'

export const MAX_TRACK_DAYS = 31

// the defaults of track-query.schema.json are applied by the validator
type Query = TrackQuery & Required<Pick<TrackQuery, 'max_points' | 'format'>>

const FIELDS = ['lat', 'lon', 'speed_kmh', 'heading_deg', 'fuel_pct', 'engine_temp_c'] as const

const num = (v: unknown): number | null => v === null || v === undefined ? null : Number(v)

function toGeoJson (t: Track): unknown {
  const pts = t.points.filter(p => p.lat !== null && p.lon !== null)
  return {
    type: 'FeatureCollection',
    features: pts.length < 2
      ? pts.map(p => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [p.lon, p.lat] }, properties: { vehicle_id: t.vehicle_id, ...p } }))
      : [{
          type: 'Feature',
          geometry: { type: 'LineString', coordinates: pts.map(p => [p.lon, p.lat]) },
          properties: { vehicle_id: t.vehicle_id, from: t.from, to: t.to, bucket: t.bucket, times: pts.map(p => p.ts), speed_kmh: pts.map(p => p.speed_kmh) }
        }]
  }
}

function toGpx (t: Track): string {
  const pts = t.points.filter(p => p.lat !== null && p.lon !== null)
    .map(p => `<trkpt lat="${p.lat}" lon="${p.lon}"><time>${p.ts}</time></trkpt>`).join('\n')
  // the vehicle id matches [A-Za-z0-9_-]: nothing to escape
  return `<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="fleetgate" xmlns="http://www.topografix.com/GPX/1/1">\n<trk><name>${t.vehicle_id}</name><trkseg>\n${pts}\n</trkseg></trk>\n</gpx>\n`
}

function toCsv (t: Track): string {
  const lines = ['ts,' + FIELDS.join(',')]
  for (const p of t.points) lines.push([p.ts, ...FIELDS.map(f => p[f] ?? '')].join(','))
  return lines.join('\r\n') + '\r\n'
}

const track: FastifyPluginAsync = async (fastify) => {
  fastify.get<{ Params: { id: string }, Querystring: Query }>('/vehicles/:id/track', {
    config: { role: 'read' },
    schema: {
      summary: 'Downsampled track of a vehicle (at most max_points points)',
      description: 'The range is cut into buckets of whole seconds (aligned to `from`), at most max_points of them; each point is the last reading in its bucket (`ts` is that reading\'s time, with its position, heading and fuel level) with the mean speed and the highest engine temperature of the bucket\'s readings, all at or before `ts`. Empty buckets are left out.',
      tags: ['readings'],
      security: [{ apiKey: [] }],
      params: idParams,
      querystring: ref('track-query'),
      response: {
        200: {
          description: 'The track, in the format asked for',
          content: {
            'application/json': { schema: ref('track') },
            'application/geo+json': { schema: { type: 'object', additionalProperties: true, description: 'A GeoJSON FeatureCollection: one LineString (or Points, with fewer than 2)' } },
            'application/gpx+xml': { schema: { type: 'string' } },
            'text/csv': { schema: { type: 'string' } }
          }
        },
        ...errorResponses
      }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const q = request.query
    const { fromUs, toUs } = parseRange(q, MAX_TRACK_DAYS)
    const bucket = bucketFor(toUs - fromUs, q.max_points)
    const from = microsToIso(fromUs)
    const to = microsToIso(toUs)
    const { rows } = await fastify.questdb.query(trackSql(bucket.n, bucket.unit), [id, from, to])
    const t: Track = {
      vehicle_id: id,
      from,
      to,
      bucket: `${bucket.n}${bucket.unit}`,
      // the bucket arithmetic already bounds the count; the slice makes it a promise
      points: rows.slice(0, q.max_points).map(r => ({
        ts: microsToIso(Number(r.ts_us)),
        lat: num(r.lat),
        lon: num(r.lon),
        speed_kmh: num(r.speed_kmh),
        heading_deg: num(r.heading_deg),
        fuel_pct: num(r.fuel_pct),
        engine_temp_c: num(r.engine_temp_c)
      }))
    }
    switch (q.format) {
      case 'geojson': return await reply.type('application/geo+json').send(toGeoJson(t))
      case 'gpx': return await reply.type('application/gpx+xml').header('content-disposition', `attachment; filename="${id}-track.gpx"`).send(toGpx(t))
      case 'csv': return await reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${id}-track.csv"`).send(toCsv(t))
      default: return await reply.type('application/json').send(t)
    }
  })
}

export default track
