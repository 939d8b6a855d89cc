// GET /positions?bbox=minLon,minLat,maxLon,maxLat: the latest position of every
// vehicle whose latest position is inside the box. minLon > maxLon is a box
// across the antimeridian (e.g. 170,-20,-170,20 around Fiji).
import type { FastifyPluginAsync } from 'fastify'
import type { PositionList, PositionsQuery } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { API_ERR_BAD_BBOX } from '../errors.js'
import { POSITIONS_IN_BOX_SQL, POSITIONS_IN_WRAPPED_BOX_SQL, rowToPosition } from '../queries/readings-sql.js'
import { errorResponses } from './route-schemas.js'
import { bboxProblem, type BBox } from '../bbox.js'

/** `minLon,minLat,maxLon,maxLat` as text, checked as a live subscription's bbox is. */
export function parseBbox (text: string): BBox {
  const parts = text.split(',').map(Number)
  const problem = bboxProblem(parts)
  if (problem !== null) throw new API_ERR_BAD_BBOX(problem)
  return parts as BBox
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
