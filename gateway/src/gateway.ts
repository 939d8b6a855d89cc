// buildGateway: wiring only. Opens the spool, the writer, the pipeline and the
// broker, listens at once (QuestDB's tables are made in the background, so a
// start during a QuestDB outage spools), and returns close() that shuts down
// in reverse order.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { Logger } from 'pino'
import { gatewayAddressFile, nodeId, type Config } from '../../schemas/config.js'
import { createLocalLiveBus, type LiveBus } from '../../lib/live-bus.js'
import { createFleetBroker, type Addresses, type BrokerOptions, type FleetBroker } from './broker/broker.js'
import { openDeviceRegistry, type DeviceRegistry } from './broker/device-registry.js'
import type { Pipeline, DurableSink } from './ingest/pipeline.js'
import { countIlpFlush, createIngest, type Ingest } from './ingest.js'
import { createIlpSender, type IlpSender } from './questdb/ilp-sender.js'
import { GW_ERR_ILP_GAVE_UP } from './errors.js'
import { openSpool, type Spool } from './spool/spool.js'
import { prepareQuestDb, type QuestDbPreparation } from './questdb/prepare.js'
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js'
import { createGeofencing, type Geofencing } from './geofences/geofencing.js'
import { createWebhookDelivery, retryPolicyFrom, type WebhookDelivery } from './webhooks/webhook-delivery.js'

export interface GatewayDeps {
  log: Logger
  questdbHttpUrl: string
  live?: LiveBus
  metrics?: GatewayMetrics
  /** Default DATA_DIR/spool; each worker of a multi-process gateway has its own. */
  spoolDir?: string
  onSession?: BrokerOptions['onSession']
  /** A managed QuestDB's state (false while it is being restarted). */
  questdbUp?: () => boolean
  /** With REDIS_URL: the bus's line for /readyz while it is down. */
  busDegraded?: () => string[]
  /** This process among all that write to the same QuestDB (default: NODE_ID, else hostname-pid); see IlpEncoderOptions. */
  origin?: string
  /** How long a new session's online record waits for a handover from a node or worker that held the vehicle (default 0: at once). */
  holdOnlineMs?: () => number
  /** This process's index among GATEWAY_WORKERS (default 0): its webhook queues are its own. */
  worker?: number
}

export interface Gateway {
  /** URLs to connect to (127.0.0.1 for a wildcard bind). */
  addresses: Addresses
  /** The addresses actually bound (0.0.0.0 stays 0.0.0.0), for logs. */
  bound: Addresses
  broker: FleetBroker
  registry: DeviceRegistry
  geofencing: Geofencing
  webhooks: WebhookDelivery
  spool: Spool
  pipeline: Pipeline
  live: LiveBus
  metrics: GatewayMetrics
  internalToken: string
  /** What works and what is degraded, for /readyz. */
  readiness: () => Readiness
  close: () => Promise<void>
}

export interface Readiness {
  checks: { tables: boolean }
  /** One line per degraded part, for an operator. */
  degraded: string[]
}

/** The secret a separate api process uses to follow the live stream. */
export function internalToken (config: Config): string {
  if (config.INTERNAL_TOKEN) return config.INTERNAL_TOKEN
  const file = join(config.DATA_DIR, 'internal.token')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(config.DATA_DIR, { recursive: true })
  const token = randomBytes(24).toString('base64url')
  writeFileSync(file, token + '\n', { mode: 0o600 })
  return token
}

export async function buildGateway (config: Config, deps: GatewayDeps): Promise<Gateway> {
  const log = deps.log
  const metrics = deps.metrics ?? createGatewayMetrics()
  const live = deps.live ?? createLocalLiveBus()
  mkdirSync(config.DATA_DIR, { recursive: true })

  // the ingest path is made once the spool is open; a protocol chosen before
  // that is read from questdb.state() then
  let useProtocol: Ingest['useProtocol'] = () => {}
  const questdb = prepareQuestDb({
    httpUrl: deps.questdbHttpUrl,
    retentionDays: config.RETENTION_DAYS,
    protocol: config.ILP_PROTOCOL_VERSION,
    log: log.child({ part: 'questdb-setup' }),
    onProtocol: version => useProtocol(version)
  })
  // a QuestDB that answers gets its tables before the broker listens, as
  // before; a refused connection fails at once, a silent one holds the start
  // for 10 s at most
  await Promise.race([questdb.firstAttempt, new Promise(resolve => setTimeout(resolve, 10000).unref())])
  let lastWriteOk = true
  const countFlush = countIlpFlush(metrics)
  const sender = createIlpSender({
    httpUrl: deps.questdbHttpUrl,
    log: log.child({ part: 'ilp' }),
    onFlush (info) {
      lastWriteOk = info.ok
      countFlush(info)
    },
    onPoison (chunk, err) {
      // kept for an operator to inspect; QuestDB will never take these lines
      metrics.ilpBatches.inc({ outcome: 'poison' })
      const file = join(config.DATA_DIR, 'spool-poison', `${Date.now()}-${process.pid}.ilp`)
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, chunk)
      log.error({ err, file }, 'ilp lines refused by questdb, kept aside')
    }
  })
  const spoolDir = deps.spoolDir ?? config.SPOOL_DIR ?? join(config.DATA_DIR, 'spool')
  const spool = await openSpool({
    dir: spoolDir,
    log: log.child({ part: 'spool' }),
    sender: afterTables(sender, questdb),
    segmentBytes: config.SPOOL_SEGMENT_BYTES,
    maxBytes: config.SPOOL_MAX_BYTES,
    maxBatchBytes: config.ILP_BATCH_MAX_BYTES,
    lingerMs: config.ILP_FLUSH_INTERVAL_MS,
    onWrite ({ seconds }) { metrics.spoolWriteSeconds.observe(seconds) }
  })
  metrics.observeSpool(() => spool.stats())
  // ACK_MODE=spool: durable once fsynced to the spool; commit: once QuestDB has it
  const sink: DurableSink = config.ACK_MODE === 'commit'
    ? { write: chunk => spool.append(chunk).then(r => r.confirmed) }
    : { write: chunk => spool.append(chunk) }
  const geofencing = createGeofencing({
    dataDir: config.DATA_DIR,
    maxVertices: config.GEOFENCE_MAX_VERTICES,
    dwellS: config.GEOFENCE_DWELL_S,
    name: basename(spoolDir),
    log: log.child({ part: 'geofences' }),
    registry: metrics.registry
  })
  const webhooks = await createWebhookDelivery({ dir: config.DATA_DIR, log: log.child({ part: 'webhooks' }), metrics, worker: deps.worker ?? 0, ...retryPolicyFrom(config) })
  const ingest = createIngest(config, { log, questdbHttpUrl: deps.questdbHttpUrl, protocolVersion: questdb.state().ilpProtocol, origin: deps.origin ?? nodeId(config), metrics, live, sink, alertsOf: geofencing.alertsOf, alertSink: async alerts => { await webhooks.enqueue(alerts.map(a => ({ ...a }))) } })
  useProtocol = ingest.useProtocol
  const { pipeline, toRows } = ingest

  const registry = openDeviceRegistry(config.DATA_DIR)
  const token = internalToken(config)
  const broker = createFleetBroker({
    log: log.child({ part: 'broker' }),
    registry,
    internalToken: token,
    pipeline,
    toRows,
    live,
    metrics,
    rateLimit: config.DEVICE_RATE_LIMIT,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    ...(deps.onSession ? { onSession: deps.onSession } : {}),
    ...(deps.holdOnlineMs ? { holdOnlineMs: deps.holdOnlineMs } : {})
  })
  registry.watch(vehicleId => {
    log.info({ vehicleId }, 'token revoked, disconnecting')
    broker.disconnect(vehicleId)
  })

  let addresses: Addresses
  try {
    addresses = await broker.listen({
      host: config.MQTT_HOST,
      port: config.MQTT_PORT,
      wsPort: config.MQTT_WS_PORT,
      tlsPort: config.MQTT_TLS_PORT,
      tlsCertFile: config.TLS_CERT_FILE,
      tlsKeyFile: config.TLS_KEY_FILE
    })
  } catch (err) {
    questdb.close()
    geofencing.close()
    await webhooks.close()
    throw err
  }
  // for the simulator and other local clients: the ports actually bound (MQTT_PORT may be 0)
  const addressFile = gatewayAddressFile(config.DATA_DIR)
  mkdirSync(dirname(addressFile), { recursive: true })
  writeFileSync(addressFile, JSON.stringify(addresses) + '\n')
  const bound = boundAddresses(addresses, config.MQTT_HOST)
  log.info({ ...bound, ackMode: config.ACK_MODE, ilpProtocol: questdb.state().ilpProtocol, devices: registry.size() }, 'gateway listening')

  /** QuestDB unreachable as far as this gateway knows: no tables yet, or its last write failed. */
  const questdbDown = (): boolean => !questdb.state().tables || !lastWriteOk || deps.questdbUp?.() === false
  metrics.observeQuestDb(() => !questdbDown())
  function readiness (): Readiness {
    const q = questdb.state()
    const degraded: string[] = []
    if (deps.questdbUp?.() === false) degraded.push('managed questdb exited: restarting with backoff')
    if (questdbDown()) degraded.push(`questdb unreachable: readings are kept in the spool (${spool.stats().unconfirmedBytes} bytes unconfirmed)`)
    if (!q.tables) degraded.push('questdb tables not created yet: retrying; the spool is not drained until they exist')
    if (!q.protocolProbed) degraded.push(`ilp protocol ${q.ilpProtocol} until questdb /settings answers`)
    if (deps.busDegraded) degraded.push(...deps.busDegraded())
    return { checks: { tables: q.tables }, degraded }
  }

  let closing: Promise<void> | undefined
  async function close (): Promise<void> {
    closing ??= (async () => {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS
      broker.stopAccepting()
      // let publishes already waiting for durability get their PUBACK
      while (broker.inflight() > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      await broker.close()
      // after the broker: no reading is evaluated any more
      geofencing.close()
      await webhooks.close()
      questdb.close()
      // with QuestDB unreachable, waiting cannot drain anything: what is in the spool stays there for the next start
      await spool.close(questdbDown() ? 0 : Math.max(0, deadline - Date.now()))
      await sender.close()
      registry.close()
      rmSync(addressFile, { force: true })
      log.info('gateway closed')
    })()
    return await closing
  }

  return { addresses, bound, broker, registry, geofencing, webhooks, spool, pipeline, live, metrics, internalToken: token, readiness, close }
}

/** The broker's connect URLs with the host it was told to bind: a wildcard is logged as what it is. */
export function boundAddresses (addresses: Addresses, host: string): Addresses {
  if (host !== '0.0.0.0' && host !== '::') return addresses
  const h = host === '::' ? '[::]' : host
  return Object.fromEntries(Object.entries(addresses).map(([k, url]) => [k, (url as string).replace('//127.0.0.1:', `//${h}:`)])) as unknown as Addresses
}

/** The sender as the spool sees it: nothing is sent before the tables exist. */
function afterTables (sender: IlpSender, questdb: QuestDbPreparation): IlpSender {
  let ready = false
  void questdb.tablesReady.then(() => { ready = true })
  let wake: (() => void) | null = null
  return {
    async send (chunks, stop = () => false) {
      while (!ready) {
        if (stop()) throw new GW_ERR_ILP_GAVE_UP('questdb tables not created')
        await Promise.race([questdb.tablesReady, new Promise<void>(resolve => {
          // unref: waiting alone does not keep a process alive; abort() ends the wait
          const timer = setTimeout(resolve, 100).unref()
          wake = () => { clearTimeout(timer); resolve() }
        })])
        wake = null
      }
      await sender.send(chunks, stop)
    },
    abort: () => { wake?.(); sender.abort() },
    close: async () => await sender.close()
  }
}
