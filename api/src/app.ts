// The api as one Fastify plugin; it never listens (main.ts does).
import type { FastifyPluginAsync } from 'fastify'
import type { LiveSource } from '../../schemas/live.js'
import questdb from './plugins/questdb.js'
import errors from './plugins/errors.js'
import liveFeed from './plugins/live-feed.js'
import vehicles from './routes/vehicles.js'
import web, { type WebOptions } from './plugins/web.js'
import { isReady } from '../../scripts/questdb.js'

export interface AppOptions {
  pgUrl: string
  questdbHttpUrl: string
  live: LiveSource
  /** Whether the broker side is up (in one process: the gateway's broker). */
  brokerReady?: () => boolean
  /** The map page at / (tile server and attribution); without it the page uses the graticule. */
  map?: WebOptions
}

const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  await fastify.register(errors)
  await fastify.register(questdb, { pgUrl: opts.pgUrl })
  let shuttingDown = false
  fastify.addHook('preClose', async () => { shuttingDown = true })

  fastify.get('/healthz', async () => ({ status: 'ok' }))
  fastify.get('/readyz', async (_req, reply) => {
    const checks = {
      questdb: !shuttingDown && await isReady(opts.questdbHttpUrl, opts.pgUrl),
      broker: !shuttingDown && (opts.brokerReady?.() ?? true)
    }
    const ok = checks.questdb && checks.broker
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : shuttingDown ? 'shutting_down' : 'not_ready', checks })
  })

  await fastify.register(async (v1) => {
    await v1.register(liveFeed, { source: opts.live })
    await v1.register(vehicles)
  }, { prefix: '/api/v1' })
  await fastify.register(web, opts.map ?? { tileUrl: 'none', tileAttribution: '' })
}

export default app
