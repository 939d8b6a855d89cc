// The pg pool to QuestDB, decorated as `fastify.questdb`, ended on close.
import fp from 'fastify-plugin'
import pg from 'pg'

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
  fastify.decorate('questdb', pool)
  fastify.addHook('onClose', async () => { await pool.end() })
}, { name: 'questdb' })
