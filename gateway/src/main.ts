// The gateway process: config and logger come in, QuestDB (managed unless
// configured) and the gateway come up; returns close() for the signal handler.
import { mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../../schemas/config.js'
import type { LiveBus } from '../../schemas/live.js'
import { startQuestDb, type ManagedQuestDb } from '../../scripts/questdb.js'
import { buildGateway, type Gateway } from './gateway.js'

export interface QuestDbAddress { httpUrl: string, pgUrl: string }

/** Where a managed QuestDB's addresses are written, for an api process started apart. */
export function questdbAddressFile (config: Config): string {
  return join(config.DATA_DIR, 'questdb', 'addresses.json')
}

export async function ensureQuestDb (config: Config, log: Logger): Promise<QuestDbAddress & { managed?: ManagedQuestDb }> {
  if (config.QUESTDB_HTTP_URL && config.QUESTDB_PG_URL) {
    log.info({ httpUrl: config.QUESTDB_HTTP_URL }, 'using configured questdb')
    return { httpUrl: config.QUESTDB_HTTP_URL, pgUrl: config.QUESTDB_PG_URL }
  }
  const qlog = log.child({ part: 'questdb' })
  const managed = await startQuestDb({ root: join(config.DATA_DIR, 'questdb', 'root'), log: (msg, data) => qlog.info(data ?? {}, msg) })
  mkdirSync(join(config.DATA_DIR, 'questdb'), { recursive: true })
  writeFileSync(questdbAddressFile(config), JSON.stringify({ httpUrl: managed.httpUrl, pgUrl: managed.pgUrl }) + '\n', { mode: 0o600 })
  return { httpUrl: managed.httpUrl, pgUrl: managed.pgUrl, managed }
}

export interface RunningGateway { gateway: Gateway, questdb: QuestDbAddress, close: () => Promise<void> }

export async function runGateway (config: Config, log: Logger, opts: { live?: LiveBus } = {}): Promise<RunningGateway> {
  const qdb = await ensureQuestDb(config, log)
  let gateway: Gateway
  try {
    gateway = await buildGateway(config, { log: log.child({ part: 'gateway' }), questdbHttpUrl: qdb.httpUrl, ...(opts.live ? { live: opts.live } : {}) })
  } catch (err) {
    await qdb.managed?.stop()
    throw err
  }
  return {
    gateway,
    questdb: { httpUrl: qdb.httpUrl, pgUrl: qdb.pgUrl },
    async close () {
      await gateway.close()
      if (qdb.managed) {
        await qdb.managed.stop()
        rmSync(questdbAddressFile(config), { force: true })
        log.info('questdb stopped')
      }
    }
  }
}
