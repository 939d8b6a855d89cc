// The gateway process: config and logger come in, QuestDB (managed and
// supervised unless configured) and the gateway come up; returns close() for
// the signal handler.
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { apiKeysFile, nodeId, type Config } from '../../schemas/config.js'
import type { LiveBus } from '../../lib/live-bus.js'
import { freePorts } from '../../lib/free-ports.js'
import { superviseQuestDb, type QuestDbPorts, type SupervisedQuestDb } from '../../lib/questdb/managed.js'
import { buildGateway, type Gateway } from './gateway.js'
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js'
import { createRedisBus, joinBus, HANDOVER_WAIT_MS, type RedisBus } from './bus/redis-bus.js'
import { openRegistryStream, type RegistryStream } from './bus/registry-stream.js'
import { webhooksFile } from './webhooks/webhook-registry.js'
import { registryPath } from './broker/device-registry.js'
import { geofencesFile } from './geofences/geofence-store.js'

export interface QuestDbAddress { httpUrl: string, pgUrl: string }

/** Where a managed QuestDB's addresses are written, for an api process started apart. */
export function questdbAddressFile (config: Config): string {
  return join(config.DATA_DIR, 'questdb', 'addresses.json')
}

/** Where the managed QuestDB's ports are kept once chosen. */
export function questdbPortsFile (config: Config): string {
  return join(config.DATA_DIR, 'questdb', 'ports.json')
}

const PORT_NAMES = ['http', 'pg', 'ilp', 'httpMin'] as const

/**
 * The managed QuestDB's ports: from config, else those kept in DATA_DIR, else
 * free ones chosen now and kept, so that Grafana, psql and the simulator's
 * --verify find it again after a restart of QuestDB or of the gateway.
 */
export async function managedQuestDbPorts (config: Config): Promise<QuestDbPorts> {
  const file = questdbPortsFile(config)
  const kept = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Partial<QuestDbPorts> : {}
  const wanted: Partial<QuestDbPorts> = { ...kept }
  if (config.QUESTDB_MANAGED_HTTP_PORT > 0) wanted.http = config.QUESTDB_MANAGED_HTTP_PORT
  if (config.QUESTDB_MANAGED_PG_PORT > 0) wanted.pg = config.QUESTDB_MANAGED_PG_PORT
  const used = new Set(Object.values(wanted))
  const free = (await freePorts(8)).filter(p => !used.has(p))
  const ports = Object.fromEntries(PORT_NAMES.map(name => [name, wanted[name] ?? free.shift()])) as unknown as QuestDbPorts
  if (PORT_NAMES.some(name => kept[name] !== ports[name])) {
    mkdirSync(join(config.DATA_DIR, 'questdb'), { recursive: true })
    writeFileSync(file, JSON.stringify(ports) + '\n')
  }
  for (const name of PORT_NAMES) {
    if (!await portFree(ports[name])) {
      throw new Error(`the managed QuestDB's ${name} port 127.0.0.1:${ports[name]} is in use. Its ports are kept in ${file} so that its addresses stay the same across restarts: stop what uses it, set QUESTDB_MANAGED_HTTP_PORT / QUESTDB_MANAGED_PG_PORT, or delete the file to choose new ones`)
    }
  }
  return ports
}

async function portFree (port: number): Promise<boolean> {
  const srv = createServer()
  return await new Promise<boolean>(resolve => {
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

export async function ensureQuestDb (config: Config, log: Logger, metrics?: GatewayMetrics): Promise<QuestDbAddress & { managed?: SupervisedQuestDb }> {
  if (config.QUESTDB_HTTP_URL && config.QUESTDB_PG_URL) {
    log.info({ httpUrl: config.QUESTDB_HTTP_URL }, 'using configured questdb')
    return { httpUrl: config.QUESTDB_HTTP_URL, pgUrl: config.QUESTDB_PG_URL }
  }
  const qlog = log.child({ part: 'questdb' })
  const managed = await superviseQuestDb({
    root: join(config.DATA_DIR, 'questdb', 'root'),
    ports: await managedQuestDbPorts(config),
    log: (msg, data) => qlog.info(data ?? {}, msg),
    onExit: ({ code, pid, restartInMs, output }) => qlog.error({ code, jvmPid: pid, restartInMs, output: output.slice(-2048) }, 'questdb exited, restarting'),
    onRestartFailed: ({ err, retryInMs }) => {
      metrics?.questdbRestarts.inc({ outcome: 'failed' })
      qlog.error({ err, retryInMs }, 'questdb restart failed')
    },
    onRestart: ({ pid, restarts }) => {
      metrics?.questdbRestarts.inc({ outcome: 'ok' })
      qlog.warn({ jvmPid: pid, restarts }, 'questdb restarted')
    }
  })
  mkdirSync(join(config.DATA_DIR, 'questdb'), { recursive: true })
  writeFileSync(questdbAddressFile(config), JSON.stringify({ httpUrl: managed.httpUrl, pgUrl: managed.pgUrl }) + '\n', { mode: 0o600 })
  return { httpUrl: managed.httpUrl, pgUrl: managed.pgUrl, managed }
}

export interface RunningGateway {
  gateway: Gateway
  questdb: QuestDbAddress
  /** The managed QuestDB, when none is configured. */
  managed?: SupervisedQuestDb
  close: () => Promise<void>
}

export async function runGateway (config: Config, log: Logger, opts: { live?: LiveBus } = {}): Promise<RunningGateway> {
  const metrics = createGatewayMetrics()
  const qdb = await ensureQuestDb(config, log, metrics)
  const managed = qdb.managed
  // scale-out across machines: this node's series apart from the others'
  const node = nodeId(config)
  let bus: RedisBus | null = null
  if (config.REDIS_URL) {
    metrics.registry.setDefaultLabels({ node })
    bus = createRedisBus({ url: config.REDIS_URL, node, log: log.child({ part: 'bus' }), follow: { sessions: true }, registry: metrics.registry })
    // a start without Redis goes on without it
    await bus.ready(2000)
  }
  let gateway: Gateway
  try {
    gateway = await buildGateway(config, {
      log: log.child({ part: 'gateway' }),
      questdbHttpUrl: qdb.httpUrl,
      metrics,
      ...(managed ? { questdbUp: managed.up } : {}),
      ...(opts.live ? { live: opts.live } : {}),
      ...(bus ? { onSession: bus.announceSession, busDegraded: bus.degraded, holdOnlineMs: () => bus?.up() === true ? HANDOVER_WAIT_MS : 0 } : {})
    })
  } catch (err) {
    await bus?.close()
    await managed?.stop()
    throw err
  }
  const broker = gateway.broker
  const leaveBus = bus
    ? joinBus(bus, node, gateway.live, { takeover: (vehicleId, sid, reply) => { reply(broker.takeover(vehicleId, sid)) }, handover: broker.handover })
    : () => {}
  let registryStream: RegistryStream | null = null
  if (config.REDIS_URL) {
    const g = gateway
    const rlog = log.child({ part: 'registry-stream' })
    registryStream = openRegistryStream({
      url: config.REDIS_URL,
      node,
      log: rlog,
      // every node forwards what was written on its machine, whatever wrote it
      forward: [{ kind: 'device', file: registryPath(config.DATA_DIR) }, { kind: 'apikey', file: apiKeysFile(config.DATA_DIR) }, { kind: 'geofence', file: geofencesFile(config.DATA_DIR) }, { kind: 'webhook', file: webhooksFile(config.DATA_DIR) }],
      apply: {
        geofence: line => { g.geofencing.store.apply(line) },
        webhook: line => { g.webhooks.apply(line) },
        device (line, origin) {
          const revoked = g.registry.apply(line)
          if (revoked === null) return
          rlog.info({ vehicleId: revoked, origin }, 'token revoked on another node, disconnecting')
          g.broker.disconnect(revoked)
        }
      },
      registry: metrics.registry
    })
  }
  return {
    gateway,
    questdb: { httpUrl: qdb.httpUrl, pgUrl: qdb.pgUrl },
    ...(managed ? { managed } : {}),
    async close () {
      await gateway.close()
      leaveBus()
      await registryStream?.close()
      await bus?.close()
      if (managed) {
        await managed.stop()
        rmSync(questdbAddressFile(config), { force: true })
        log.info('questdb stopped')
      }
    }
  }
}
