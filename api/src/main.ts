// The api process: builds Fastify around app.ts and listens. Alone, it finds
// QuestDB from config (or the gateway's managed instance) and follows the live
// stream through the gateway's broker.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Config } from '../../schemas/config.js'
import type { LiveSource } from '../../schemas/live.js'
import app from './app.js'
import { createMqttLiveSource } from './live-source.js'
import { questdbAddressFile, type QuestDbAddress } from '../../gateway/src/main.js'
import { internalToken } from '../../gateway/src/gateway.js'

export interface ApiDeps {
  questdb?: QuestDbAddress
  live?: LiveSource
  brokerReady?: () => boolean
}

export interface RunningApi { fastify: FastifyInstance, url: string, close: () => Promise<void> }

function findQuestDb (config: Config): QuestDbAddress {
  if (config.QUESTDB_HTTP_URL && config.QUESTDB_PG_URL) return { httpUrl: config.QUESTDB_HTTP_URL, pgUrl: config.QUESTDB_PG_URL }
  const file = questdbAddressFile(config)
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as QuestDbAddress
  throw new Error(`no QuestDB: set QUESTDB_HTTP_URL and QUESTDB_PG_URL, or start the gateway first with the same DATA_DIR (${file} not found)`)
}

export async function runApi (config: Config, log: Logger, deps: ApiDeps = {}): Promise<RunningApi> {
  const questdb = deps.questdb ?? findQuestDb(config)
  let live = deps.live
  let brokerReady = deps.brokerReady
  if (!live) {
    const url = config.GATEWAY_MQTT_URL ?? `mqtt://127.0.0.1:${config.MQTT_PORT}`
    const source = createMqttLiveSource(url, internalToken(config), log.child({ part: 'live-source' }))
    live = source
    brokerReady = source.connected
  }
  const fastify: FastifyInstance = Fastify({ loggerInstance: log.child({ part: 'api' }) as unknown as FastifyBaseLogger, requestIdHeader: 'x-request-id', trustProxy: false })
  await fastify.register(app, { pgUrl: questdb.pgUrl, questdbHttpUrl: questdb.httpUrl, live, map: { tileUrl: config.MAP_TILE_URL, tileAttribution: config.MAP_TILE_ATTRIBUTION }, ...(brokerReady ? { brokerReady } : {}) })
  const url = await fastify.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT })
  const source = live
  return {
    fastify,
    url: url.replace('0.0.0.0', '127.0.0.1'),
    async close () {
      await fastify.close()
      if (!deps.live) await source.close?.()
    }
  }
}
