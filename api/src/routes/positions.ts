// GET /positions?bbox=minLon,minLat,maxLon,maxLat: the latest position of every
// vehicle whose latest position is inside the box. minLon > maxLon is a box
// across the antimeridian (e.g. 170,-20,-170,20 around Fiji).
import type { FastifyPluginAsync } from 'fastify'
import type { PositionList, PositionsQuery } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { API_ERR_BAD_BBOX } from '../errors.js'
import { POSITIONS_IN_BOX_SQL, POSITIONS_IN_WRAPPED_BOX_SQL, rowToPosition } from '../readings-sql.js'
import { errorResponses } from './route-schemas.js'

export type BBox = [number, number, number, number]

export function parseBbox (text: string): BBox {
  const parts = text.split(',').map(Number)
  const bad = (why: string) => new API_ERR_BAD_BBOX(why)
  if (parts.length !== 4 || !parts.every(Number.isFinite)) throw bad('four finite numbers')
  const [minLon, minLat, maxLon, maxLat] = parts as BBox
  if ([minLon, maxLon].some(x => x < -180 || x > 180)) throw bad('longitudes in [-180, 180]')
  if ([minLat, maxLat].some(x => x < -90 || x > 90)) throw bad('latitudes in [-90, 90]')
  if (minLat > maxLat) throw bad('minLat <= maxLat')
  return [minLon, minLat, maxLon, maxLat]
}

const positions: FastifyPluginAsync = async (fastify) => {
  fastify.get<{ Querystring: PositionsQuery }>('/positions', {
    config: { role: 'read' },
    schema: {
      summary: 'Latest position of each vehicle inside a box',
      tags: ['vehicles'],
      security: [{ apiKey: [] }],
      querystring: ref('positions-query'),
      response: { 200: ref('position-list'), ...errorResponses }
    }
  }, async (request): Promise<PositionList> => {
    const bbox = parseBbox(request.query.bbox)
    const [minLon, minLat, maxLon, maxLat] = bbox
    const sql = minLon <= maxLon ? POSITIONS_IN_BOX_SQL : POSITIONS_IN_WRAPPED_BOX_SQL
    const { rows } = await fastify.questdb.query(sql, [minLat, maxLat, minLon, maxLon])
    return { bbox, positions: rows.map(r => rowToPosition(r)) }
  })
}

export default positions
