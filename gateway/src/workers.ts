// The gateway on every core: GATEWAY_WORKERS processes of Node's cluster
// module share the MQTT ports (the primary accepts and hands each connection
// to a worker in turn; the packets then go straight to that worker). Each
// worker is a whole gateway with its own spool and its own PUBACK rule. The
// primary holds the api; the live stream, session takeovers (with their
// handover: the last status, the rate-limit budget) and metrics cross over
// the cluster's IPC channel. Device revocations need nothing: every worker
// follows the device registry's file.
//
// With REDIS_URL the primary is the node on the bus, relaying between the
// IPC channel and Redis: one node id, one set of connections and one owner
// map per machine, so a takeover between two workers needs no Redis (and
// works while it is down), and each live batch is published once. The api
// beside it follows the live stream from Redis like any api node (this
// node's batches included), never from the IPC channel as well: no batch
// reaches it twice. Registry lines from other nodes reach the workers
// through the primary too.
//
// Processes, not threads: a socket cannot move to a worker thread, so
// threads would put every packet through a message port; and Node 20 has no
// SO_REUSEPORT for net servers.
import cluster, { type Worker } from 'node:cluster'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Config } from '../../schemas/config.js'
import { createLocalLiveBus, type LiveBus } from '../../lib/live-bus.js'
import type { LiveMessage } from '../../schemas/live.js'
import { turnBatch } from '../../lib/turn-batch.js'
import { Registry as MetricsRegistry } from 'prom-client'
import { nodeId } from '../../schemas/config.js'
import type { Addresses, Handover } from './broker/broker.js'
import { createRedisBus, joinBus, HANDOVER_WAIT_MS, type RedisBus } from './bus/redis-bus.js'
import { openRegistryStream, type RegistryStream } from './bus/registry-stream.js'
import { buildGateway } from './gateway.js'
import { createIlpSender } from './questdb/ilp-sender.js'
import { openSpool } from './spool/spool.js'

/** One registry's metrics as `getMetricsAsJSON()` gives them. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

/** Worker -> primary. */
type Up =
  | { t: 'ready', addresses: Addresses }
  | { t: 'live', batch: LiveMessage[] }
  /** `at`: the monotonic clock (ns), one for every process of the machine, fine enough to order two CONNECTs of one id */
  | { t: 'session', vehicleId: string, sid: number, started: boolean, at: number }
  | { t: 'metrics', id: number, json: MetricsJson }
  | { t: 'handover', reply: number, h: Handover | null }
  | { t: 'drained' }
/** Primary -> worker. */
type Down =
  | { t: 'takeover', vehicleId: string, sid: number, reply: number }
  | { t: 'handover', vehicleId: string, sid: number, h: Handover | null }
  | { t: 'registry', line: string }
  | { t: 'metrics', id: number }
  | { t: 'close' }

const WORKER_ENV = 'FLEETGATE_WORKER'
const DRAIN_ENV = 'FLEETGATE_DRAIN_ONLY'

/** Worker i's spool: 0 keeps the single-process path, so switching modes loses nothing. */
export function workerSpoolDir (dataDir: string, index: number): string {
  return join(dataDir, index === 0 ? 'spool' : `spool-${index}`)
}

/** Spool folders of workers beyond `n` (left by a run with more workers). */
function orphanSpools (dataDir: string, n: number): number[] {
  if (!existsSync(dataDir)) return []
  return readdirSync(dataDir)
    .map(name => /^spool-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(m => Number(m[1]))
    .filter(i => i >= n)
}

export function isGatewayWorker (): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] !== undefined
}

export interface GatewayWorkers {
  addresses: Addresses
  /** Every worker's live stream. */
  live: LiveBus
  /** Each worker's metrics, for the api's /metrics. */
  metrics: () => Promise<MetricsJson[]>
  /** The primary's own (the Redis bus's), for the api's /metrics. */
  registry: MetricsRegistry
  ready: () => boolean
  close: () => Promise<void>
}

/**
 * In the primary: forks `n` gateway workers (and a drain-only worker for each
 * spool a run with more workers left behind), restarts one that dies, and
 * resolves once every serving worker listens.
 */
export async function startGatewayWorkers (config: Config, log: Logger, questdb: { httpUrl: string, pgUrl: string }, n: number): Promise<GatewayWorkers> {
  const live = createLocalLiveBus()
  const workers = new Map<number, Worker>()
  // which worker holds each vehicle's session, latest first; `nodeSid`
  // numbers it on the Redis bus (workers number their sessions apart)
  const owner = new Map<string, { index: number, sid: number, nodeSid: number, at: number }>()
  let nextNodeSid = 0
  // takeovers waiting for the old worker's handover
  const replies = new Map<number, { index: number, fn: (h: Handover | null) => void }>()
  let nextReply = 0
  const registry = new MetricsRegistry()
  const node = nodeId(config)
  let bus = null as RedisBus | null
  let registryStream = null as RegistryStream | null
  // the latest device line from another node per vehicle, for a worker that starts later
  const remoteDevices = new Map<string, string>()
  const pending = new Map<number, { want: number, got: MetricsJson[], resolve: (v: MetricsJson[]) => void }>()
  let nextRequest = 0
  let closing = false
  let addresses: Addresses | null = null
  let readyCount = 0

  cluster.setupPrimary({ serialization: 'advanced' })

  function fork (index: number, drainOnly: boolean): Worker {
    const worker = cluster.fork({
      [WORKER_ENV]: String(index),
      ...(drainOnly ? { [DRAIN_ENV]: '1' } : {}),
      QUESTDB_HTTP_URL: questdb.httpUrl,
      QUESTDB_PG_URL: questdb.pgUrl,
      // the workers are this node (logs, metrics), whatever their pids
      NODE_ID: node
    })
    if (!drainOnly) workers.set(index, worker)
    worker.on('message', (msg: Up) => { onMessage(index, msg) })
    worker.on('exit', (code, signal) => {
      if (workers.get(index) === worker) workers.delete(index)
      for (const [id, o] of owner) if (o.index === index) owner.delete(id)
      for (const [id, r] of replies) if (r.index === index) { replies.delete(id); r.fn(null) }
      if (closing || drainOnly) return
      // its spool replays when it comes back; its vehicles reconnect
      log.error({ worker: index, code, signal }, 'gateway worker died, restarting')
      readyCount--
      setTimeout(() => { if (!closing) fork(index, false) }, 500).unref()
    })
    return worker
  }

  let onAllReady: (() => void) | null = null
  function onMessage (index: number, msg: Up): void {
    switch (msg.t) {
      case 'ready':
        for (const line of remoteDevices.values()) send(index, { t: 'registry', line })
        addresses ??= msg.addresses
        readyCount++
        if (readyCount === n) onAllReady?.()
        return
      case 'live':
        for (const m of msg.batch) live.publish(m)
        return
      case 'session': {
        const v = msg.vehicleId
        const before = owner.get(v)
        if (msg.started) {
          if (before !== undefined && before.index !== index && before.at > msg.at) {
            // two workers' announcements crossed on the way here: the one
            // that arrived last started first, and is the one to end
            takeover(v, { index, sid: msg.sid }, h => { send(before.index, { t: 'handover', vehicleId: v, sid: before.sid, h }) })
            return
          }
          const nodeSid = ++nextNodeSid
          owner.set(v, { index, sid: msg.sid, nodeSid, at: msg.at })
          const handTo = (h: Handover | null): void => { send(index, { t: 'handover', vehicleId: v, sid: msg.sid, h }) }
          // [MQTT-3.1.4-2] one session per client id, across workers too
          if (before !== undefined && before.index !== index) takeover(v, before, handTo)
          // no other worker held it, and no other node can say so: the worker records online now
          else if (bus?.up() !== true || before !== undefined) handTo(null)
          bus?.announceSession({ vehicleId: v, sid: nodeSid, started: true })
        } else if (before?.index === index && before.sid === msg.sid) {
          owner.delete(v)
          bus?.announceSession({ vehicleId: v, sid: before.nodeSid, started: false })
        }
        return
      }
      case 'handover': {
        const r = replies.get(msg.reply)
        replies.delete(msg.reply)
        r?.fn(msg.h)
        return
      }
      case 'metrics': {
        const p = pending.get(msg.id)
        if (!p) return
        p.got.push(msg.json)
        if (p.got.length === p.want) { pending.delete(msg.id); p.resolve(p.got) }
        return
      }
      case 'drained':
        log.info({ worker: index }, 'orphaned spool drained')
    }
  }

  function send (index: number, msg: Down): boolean {
    const w = workers.get(index)
    if (!w?.isConnected()) return false
    w.send(msg)
    return true
  }

  /** Ends worker `o.index`'s session of the vehicle; `reply` gets its handover. */
  function takeover (vehicleId: string, o: { index: number, sid: number }, reply: (h: Handover | null) => void): void {
    const id = ++nextReply
    replies.set(id, { index: o.index, fn: reply })
    if (!send(o.index, { t: 'takeover', vehicleId, sid: o.sid, reply: id })) { replies.delete(id); reply(null) }
  }

  const leaveBus = config.REDIS_URL ? joinRedis(config.REDIS_URL) : () => {}
  function joinRedis (url: string): () => void {
    registry.setDefaultLabels({ node })
    const b = createRedisBus({ url, node, log: log.child({ part: 'bus' }), follow: { sessions: true }, registry })
    bus = b
    // device lines of other nodes: each worker applies them to its cache
    // (this machine's own lines reach the workers through the file)
    registryStream = openRegistryStream({
      url,
      node,
      log: log.child({ part: 'registry-stream' }),
      forward: [],
      apply: {
        device (line) {
          const id = (JSON.parse(line) as { vehicle_id?: unknown }).vehicle_id
          if (typeof id === 'string') remoteDevices.set(id, line)
          for (const i of workers.keys()) send(i, { t: 'registry', line })
        }
      }
    })
    return joinBus(b, node, live, {
      takeover (vehicleId, nodeSid, reply) {
        const o = owner.get(vehicleId)
        if (o?.nodeSid !== nodeSid) return reply(null)
        owner.delete(vehicleId)
        takeover(vehicleId, o, reply)
      },
      handover (vehicleId, nodeSid, h) {
        const o = owner.get(vehicleId)
        if (o?.nodeSid === nodeSid) send(o.index, { t: 'handover', vehicleId, sid: o.sid, h })
      }
    })
  }

  for (const i of orphanSpools(config.DATA_DIR, n)) {
    log.warn({ spool: workerSpoolDir(config.DATA_DIR, i) }, 'spool of a worker beyond GATEWAY_WORKERS: draining it into QuestDB')
    fork(i, true)
  }
  const allReady = new Promise<void>((resolve, reject) => {
    onAllReady = resolve
    cluster.once('exit', (_w, code) => { if (readyCount < n) reject(new Error(`a gateway worker exited at start (code ${code})`)) })
  })
  for (let i = 0; i < n; i++) fork(i, false)
  try {
    await allReady
  } catch (err) {
    leaveBus()
    await registryStream?.close()
    await bus?.close()
    throw err
  }
  onAllReady = null

  return {
    addresses: addresses as unknown as Addresses,
    live,
    registry,
    ready: () => !closing && readyCount === n,
    async metrics () {
      const serving = [...workers.keys()]
      if (serving.length === 0) return []
      const id = ++nextRequest
      return await new Promise<MetricsJson[]>(resolve => {
        const timer = setTimeout(() => { const p = pending.get(id); pending.delete(id); resolve(p?.got ?? []) }, 2000)
        pending.set(id, { want: serving.length, got: [], resolve: v => { clearTimeout(timer); resolve(v) } })
        for (const i of serving) send(i, { t: 'metrics', id })
      })
    },
    async close () {
      closing = true
      const exits = [...Object.values(cluster.workers ?? {})].filter((w): w is Worker => w !== undefined).map(w => new Promise<void>(resolve => {
        if (w.isDead()) return resolve()
        w.once('exit', () => resolve())
        if (w.isConnected()) w.send({ t: 'close' } satisfies Down)
        // beyond its own shutdown timeout, a worker is ended
        setTimeout(() => { if (!w.isDead()) w.process.kill('SIGKILL') }, config.SHUTDOWN_TIMEOUT_MS + 5000).unref()
      }))
      await Promise.all(exits)
      leaveBus()
      await registryStream?.close()
      await bus?.close()
    }
  }
}

/** In a worker: one whole gateway, or the drain of an orphaned spool. */
export async function runGatewayWorker (config: Config, rootLog: Logger): Promise<void> {
  const index = Number(process.env[WORKER_ENV])
  const log = rootLog.child({ worker: index })
  const send = (msg: Up): void => { if (process.connected) process.send?.(msg) }
  // Ctrl-C reaches every process of the group: the primary orders the shutdown
  process.on('SIGINT', () => {})
  if (process.env[DRAIN_ENV] !== undefined) return await drainOrphan(config, log, index)

  let batch: LiveMessage[] = []
  const turn = turnBatch(() => {
    const b = batch
    batch = []
    send({ t: 'live', batch: b })
  }, 5)
  const gateway = await buildGateway(config, {
    log: log.child({ part: 'gateway' }),
    questdbHttpUrl: config.QUESTDB_HTTP_URL as string,
    spoolDir: workerSpoolDir(config.DATA_DIR, index),
    // rows keyed by this worker's clock: apart from the other workers' and nodes'
    origin: `${nodeId(config)}/${index}`,
    worker: index,
    // stamped at the session's start: one machine's clock orders the workers' sessions
    onSession: e => { send({ t: 'session', ...e, at: Number(process.hrtime.bigint()) }) },
    // the primary answers each session start: at once, or once the worker or node that held the vehicle has handed over
    holdOnlineMs: () => HANDOVER_WAIT_MS
  })
  // each worker's series apart in the api's /metrics
  gateway.metrics.registry.setDefaultLabels({ worker: String(index), ...(config.REDIS_URL ? { node: nodeId(config) } : {}) })
  gateway.live.subscribe(msg => {
    batch.push(msg)
    if (batch.length === 1) turn.opened()
    else turn.cutIfOld()
  })
  let closing: Promise<void> | null = null
  const close = (): Promise<void> => {
    closing ??= gateway.close().then(() => process.exit(0), (err: unknown) => { log.error({ err }, 'worker shutdown failed'); process.exit(1) })
    return closing
  }
  process.on('SIGTERM', () => { void close() })
  // the primary is gone: nothing would order this worker's shutdown
  process.on('disconnect', () => { void close() })
  process.on('message', (msg: Down) => {
    if (msg.t === 'takeover') send({ t: 'handover', reply: msg.reply, h: gateway.broker.takeover(msg.vehicleId, msg.sid) })
    else if (msg.t === 'handover') gateway.broker.handover(msg.vehicleId, msg.sid, msg.h)
    else if (msg.t === 'registry') {
      const revoked = gateway.registry.apply(msg.line)
      if (revoked !== null) {
        log.info({ vehicleId: revoked }, 'token revoked on another node, disconnecting')
        gateway.broker.disconnect(revoked)
      }
    } else if (msg.t === 'metrics') void gateway.metrics.registry.getMetricsAsJSON().then(json => { send({ t: 'metrics', id: msg.id, json }) })
    else if (msg.t === 'close') void close()
  })
  send({ t: 'ready', addresses: gateway.addresses })
}

/** Replays a spool no worker owns any more into QuestDB, then removes it. */
async function drainOrphan (config: Config, log: Logger, index: number): Promise<void> {
  const dir = workerSpoolDir(config.DATA_DIR, index)
  const sender = createIlpSender({ httpUrl: config.QUESTDB_HTTP_URL as string, log: log.child({ part: 'ilp' }) })
  const spool = await openSpool({ dir, log: log.child({ part: 'spool' }), sender, segmentBytes: config.SPOOL_SEGMENT_BYTES, maxBytes: config.SPOOL_MAX_BYTES, maxBatchBytes: config.ILP_BATCH_MAX_BYTES, lingerMs: config.ILP_FLUSH_INTERVAL_MS })
  while (spool.stats().unconfirmedBytes > 0) await new Promise(resolve => setTimeout(resolve, 200))
  await spool.close(config.SHUTDOWN_TIMEOUT_MS)
  await sender.close()
  rmSync(dir, { recursive: true, force: true })
  log.info({ spool: dir }, 'orphaned spool drained and removed')
  process.send?.({ t: 'drained' } satisfies Up)
  process.exit(0)
}
