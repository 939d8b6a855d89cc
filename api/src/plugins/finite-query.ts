// Non-finite numbers in the query string refused as validation errors. Ajv
// coerces "1e309" to Infinity and then skips minimum/maximum for non-finite
// numbers, so `limit=1e309` would pass the schema (and fail in QuestDB as a
// 500); every numeric parameter, present and future, is checked here instead.
import fp from 'fastify-plugin'
import { API_ERR_VALIDATION } from '../errors.js'

export default fp(async function finiteQuery (fastify) {
  fastify.addHook('preHandler', async (request) => {
    const q = request.query
    if (typeof q !== 'object' || q === null) return
    for (const [name, value] of Object.entries(q as Record<string, unknown>)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new API_ERR_VALIDATION(`querystring/${name} must be a finite number`)
      }
    }
  })
}, { name: 'finite-query', dependencies: ['errors'] })
