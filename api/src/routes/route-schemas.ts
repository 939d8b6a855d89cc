// Pieces every route schema shares: the vehicle id parameter (its pattern from
// schemas/topics.ts, the one place it is defined) and the problem+json errors.
import { VEHICLE_ID_PATTERN } from '../../../schemas/topics.js'
import { ref } from '../api-schemas.js'

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: VEHICLE_ID_PATTERN.source, description: 'Vehicle id.' } }
} as const

const problem = { description: 'application/problem+json (RFC 9457)', content: { 'application/problem+json': { schema: ref('problem') } } }

export const errorResponses = { 400: problem, 401: problem, 403: problem, 429: problem }
