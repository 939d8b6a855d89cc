// The pg pool to QuestDB, decorated as `fastify.questdb`, ended on close. A
// query that cannot reach QuestDB (refused, reset, timed out, server shutting
// down) fails as 503 API_ERR_UNAVAILABLE, not as a 500: nothing is wrong with
// the request, and a managed QuestDB is being restarted.
import fp from 'fastify-plugin'
import pg from 'pg'
import { isUnreachable } from '../../../lib/questdb/sql.js'
import { API_ERR_UNAVAILABLE } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    questdb: pg.Pool
  }
}

export interface QuestDbPluginOptions {
  pgUrl: string
  max?: number
}

export default fp<QuestDbPluginOptions>(async function questdb (fastify, opts) {
  const pool = new pg.Pool({ connectionString: opts.pgUrl, max: opts.max ?? 8, idleTimeoutMillis: 30000, connectionTimeoutMillis: 5000 })
  pool.on('error', err => fastify.log.warn({ err }, 'questdb pool error'))
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>
  pool.query = (async (...args: unknown[]) => {
    try {
      return await query(...args)
    } catch (err) {
      if (!isUnreachable(err)) throw err
      throw new API_ERR_UNAVAILABLE('QuestDB is unreachable; retry later', { cause: err })
    }
  }) as typeof pool.query
  fastify.decorate('questdb', pool)
  fastify.addHook('onClose', async () => { await pool.end() })
}, { name: 'questdb' })
