// fleetgate beside what a user would otherwise build (issue 24): Debian's
// Mosquitto plus a bridge (children/peer-bridge.ts: mqtt.js at QoS 1, the
// official QuestDB client over HTTP). Same generator (QoS 1, window 16), same
// QuestDB, same `readings` table, the sides alternated A B A B in one run:
// (a) the highest QoS 1 rate held by a ladder (acked >= 97 % of the target,
// 0 acknowledged readings missing in QuestDB once the side has drained);
// (b) PUBACK p50/p99 at 20,000/s in alternated pairs; (c) CPU seconds per
// 100,000 readings in those runs (the gateway's process tree against
// Mosquitto's and the bridge's); (d) kill -9 of the gateway and of the bridge
// under load, restarted, and the acknowledged readings missing in QuestDB.
import { fork, type ChildProcess } from 'node:child_process'
import { loadavg } from 'node:os'
import { verify, type VerifyResult } from '../simulator/src/verify.js'
import type { Report } from '../simulator/src/simulate.js'
import { runLoad, summary } from './harness/load.js'
import { climb, turns } from './harness/ladder.js'
import { median } from './harness/latency-runs.js'
import { processTree, startGatewayChild, startMosquitto, treeCpuS, waitSpoolDrained, type Cleanup, type GatewayChild } from './harness/processes.js'
import type { IngestOptions } from './ingest.bench.js'

/** The ladder's and the load's settings, as the ingest benchmark takes them. */
export interface PeerOptions extends Pick<IngestOptions, 'stepS' | 'warmupS' | 'vehicles' | 'window' | 'startRate' | 'maxRate' | 'factor' | 'refine'> {
  /** Alternated pairs of latency runs at latencyRate. */
  pairs: number
  latencyRate: number
  crashRate: number
  crashS: number
  /** One fleetgate side per entry: GATEWAY_WORKERS, or undefined to leave it unset. */
  workers: Array<number | undefined>
  /** Leave phases out (quick looks at one of them). */
  phases: { ladder: boolean, latency: boolean, crash: boolean }
}

interface BridgeStats { received: number, rows: number, bad: number, flushErrors: number, pendingAts: number, lastMessageAt: number, flushedThrough: number, now: number }

interface Bridge { pid: number, stats: () => Promise<BridgeStats>, kill9: () => Promise<void>, stop: () => Promise<void> }

async function startBridge (cleanup: Cleanup, mqttUrl: string, questdbHttpUrl: string): Promise<Bridge> {
  const child: ChildProcess = fork(new URL('./children/peer-bridge.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, MQTT_URL: mqttUrl, QUESTDB_HTTP_URL: questdbHttpUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = new Promise(resolve => child.once('exit', resolve))
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await exited
  }
  cleanup.add(stop)
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bridge not ready within 30 s')), 30000)
    child.on('message', (m: { type: string }) => { if (m.type === 'ready') { clearTimeout(t); resolve() } })
    child.once('exit', code => { clearTimeout(t); reject(new Error(`bridge exited with ${code}`)) })
  })
  return {
    pid: child.pid as number,
    stop,
    async kill9 () { child.kill('SIGKILL'); await exited },
    stats: async () => await new Promise<BridgeStats>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bridge did not answer')), 10000)
      const on = (m: BridgeStats & { type: string }): void => { if (m.type === 'stats') { clearTimeout(t); child.off('message', on); resolve(m) } }
      child.on('message', on)
      child.send({ type: 'stats' })
    })
  }
}

/** One side of the comparison, as the steps see it. */
interface Side {
  name: string
  kind: 'fleetgate' | 'peer'
  prefix: string
  mqttUrl: () => string
  /** The gateway's DATA_DIR (device tokens); none for Mosquitto, which takes any. */
  dataDir?: string
  /** CPU seconds of the side's processes, in total and by part. */
  cpu: () => Record<string, number>
  /**
   * Waits (bounded) until what was acknowledged is in QuestDB or on its way;
   * how long the side kept working after the load's end (ms).
   */
  drain: () => Promise<number>
  /** kill -9 of the process that carries readings to QuestDB, then a restart; ms until it is up again. */
  crash: () => Promise<number>
}

async function fleetgateSide (cleanup: Cleanup, db: { httpUrl: string, pgUrl: string }, workers: number | undefined, prefix: string): Promise<Side> {
  const env: Record<string, string> = { ACK_MODE: 'spool' }
  if (workers !== undefined) env.GATEWAY_WORKERS = String(workers)
  let gw: GatewayChild = await startGatewayChild(cleanup, db, env)
  const name = workers === undefined ? 'fleetgate' : `fleetgate (${workers} worker${workers === 1 ? '' : 's'})`
  return {
    name,
    kind: 'fleetgate',
    prefix,
    mqttUrl: () => gw.mqttUrl,
    dataDir: gw.dataDir,
    cpu: () => ({ total: treeCpuS([gw.pid]) }),
    drain: async () => await waitSpoolDrained(gw),
    async crash () {
      // every process of the gateway at once, as a power cut would
      const pids = processTree(gw.pid)
      for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch {} }
      await gw.stop()
      const t0 = performance.now()
      const mqtt = new URL(gw.mqttUrl)
      const http = new URL(gw.httpUrl)
      gw = await startGatewayChild(cleanup, db, env, [], { dataDir: gw.dataDir, mqttPort: Number(mqtt.port), httpPort: Number(http.port) })
      return Math.round(performance.now() - t0)
    }
  }
}

async function peerSide (cleanup: Cleanup, db: { httpUrl: string }, prefix: string): Promise<Side & { version: string }> {
  const broker = await startMosquitto(cleanup)
  let bridge = await startBridge(cleanup, broker.url, db.httpUrl)
  return {
    name: 'Mosquitto + bridge',
    kind: 'peer',
    prefix,
    version: broker.version,
    mqttUrl: () => broker.url,
    cpu: () => {
      const mosquitto = treeCpuS([broker.pid])
      const b = treeCpuS([bridge.pid])
      return { mosquitto, bridge: b, total: mosquitto + b }
    },
    async drain () {
      // Mosquitto may still hold a backlog for the bridge: done when nothing
      // has arrived for a second and a timer flush started after the last message completed
      const t0 = Date.now()
      for (;;) {
        const s = await bridge.stats()
        // the time its last row was handed to a flush that completed
        if (s.now - s.lastMessageAt >= 1000 && s.flushedThrough > s.lastMessageAt && s.pendingAts === 0) return Math.max(0, s.flushedThrough - t0)
        if (Date.now() - t0 > 180000) return Date.now() - t0
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    },
    async crash () {
      await bridge.kill9()
      const t0 = performance.now()
      bridge = await startBridge(cleanup, broker.url, db.httpUrl)
      return Math.round(performance.now() - t0)
    }
  }
}

interface Run {
  side: string
  targetPerS: number
  report: Report
  verify: VerifyResult
  /** From the load's end until the side had drained (drain()). */
  drainMs: number
  /** CPU seconds from the load's start until drained, by part. */
  cpuS: Record<string, number>
}

async function run (side: Side, pgUrl: string, o: PeerOptions, rate: number, durationS: number, warmupS = 0, during?: () => Promise<unknown>): Promise<Run & { during?: unknown }> {
  const cpu0 = side.cpu()
  const load = runLoad({ url: side.mqttUrl(), ...(side.dataDir ? { dataDir: side.dataDir } : {}), vehicles: o.vehicles, rate, durationS, warmupS, qos: 1, window: o.window, prefix: side.prefix })
  const duringResult = during ? await during() : undefined
  const report = await load
  const drainMs = await side.drain()
  const cpu1 = side.cpu()
  const cpuS: Record<string, number> = {}
  for (const k of Object.keys(cpu1)) cpuS[k] = Math.round(((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * 100) / 100
  const v = await verify(report.ledger, pgUrl)
  return { side: side.name, targetPerS: rate, report, verify: v, drainMs, cpuS, ...(during ? { during: duringResult } : {}) }
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d

function runFigures (r: Run): Record<string, unknown> {
  const per100k = (s: number): number => r.report.acked > 0 ? round(s / r.report.acked * 100000) : 0
  const cpuPer100k: Record<string, number> = {}
  for (const [k, s] of Object.entries(r.cpuS)) cpuPer100k[k] = per100k(s)
  return {
    targetPerS: r.targetPerS,
    ...summary(r.report),
    pubackP90Ms: r.report.pubackMs.p90,
    pubackMaxMs: r.report.pubackMs.max,
    simulatorCpuPct: r.report.cpuPct,
    simulatorLoopLagP99Ms: r.report.loopLagMs.p99,
    missing: r.verify.missing,
    duplicated: r.verify.duplicated,
    drainMs: r.drainMs,
    cpuS: r.cpuS,
    cpuSPer100k: cpuPer100k
  }
}

export async function runPeer (cleanup: Cleanup, db: { httpUrl: string, pgUrl: string }, o: PeerOptions): Promise<Record<string, unknown>> {
  // the gateway first: it creates the tables the bridge writes into
  const sides: Side[] = []
  for (const [i, w] of o.workers.entries()) sides.push(await fleetgateSide(cleanup, db, w, `fg${i}-`))
  const peer = await peerSide(cleanup, db, 'peer-')
  sides.push(peer)
  const { phases: _, ...settings } = o
  const out: Record<string, unknown> = { mosquitto: peer.version, sides: sides.map(s => s.name), settings }
  const log = (line: string): void => { process.stderr.write(`  ${line}\n`) }
  // the machine is shared: the load average as each phase starts
  const loadAverage: Record<string, number[]> = {}
  out.loadAverage = loadAverage
  const phase = (name: string, line: string): void => {
    loadAverage[name] = loadavg().map(x => round(x, 1))
    process.stderr.write(`peer: ${line} (load average ${loadAverage[name]?.join(' ')})\n`)
  }

  if (o.phases.ladder) {
    phase('ladder', '(a) the highest QoS 1 rate held, a ladder per side, steps alternated')
    const turn = turns()
    const ladders = await Promise.all(sides.map(async side => {
      const steps: Array<Record<string, unknown>> = []
      let sustained = 0
      await climb({ start: o.startRate, max: o.maxRate, factor: o.factor, refine: o.refine }, async rate => await turn(async () => {
        const r = await run(side, db.pgUrl, o, rate, o.stepS)
        const ok = r.report.ackRatePerS >= 0.97 * rate && r.verify.missing === 0 && r.verify.duplicated === 0
        steps.push({ ...runFigures(r), ok })
        log(`${side.name} ${rate}/s: acked ${r.report.ackRatePerS}/s, missing ${r.verify.missing}, drained ${r.drainMs} ms after, simulator CPU ${r.report.cpuPct} % loop p99 ${r.report.loopLagMs.p99} ms: ${ok ? 'held' : 'not held'}`)
        if (ok) sustained = Math.max(sustained, r.report.ackRatePerS)
        return ok
      }))
      return [side.name, { sustainedPerS: sustained, steps }] as const
    }))
    out.ladder = Object.fromEntries(ladders)
  }

  if (o.phases.latency) {
    phase('latency', `(b, c) PUBACK latency and CPU at ${o.latencyRate}/s, ${o.pairs} alternated pair(s)`)
    const bySide = new Map<string, Array<Record<string, unknown>>>(sides.map(s => [s.name, []]))
    for (let i = 0; i < o.pairs; i++) {
      for (const side of sides) {
        const r = await run(side, db.pgUrl, o, o.latencyRate, o.warmupS + o.stepS, o.warmupS)
        const f = runFigures(r)
        bySide.get(side.name)?.push(f)
        log(`${side.name}, pair ${i + 1}: acked ${r.report.ackRatePerS}/s, PUBACK p50 ${r.report.pubackMs.p50} p99 ${r.report.pubackMs.p99} ms, CPU ${JSON.stringify(f.cpuSPer100k)} s/100k, missing ${r.verify.missing}`)
      }
    }
    const latency: Record<string, unknown> = {}
    for (const [name, runs] of bySide) {
      const med = (field: string): number => median(runs.map(r => r[field] as number))
      const cpuParts = Object.keys(runs[0]?.cpuSPer100k as Record<string, number>)
      latency[name] = {
        runs,
        pubackP50Ms: med('pubackP50Ms'),
        pubackP99Ms: med('pubackP99Ms'),
        pubackP50MsRuns: runs.map(r => r.pubackP50Ms),
        pubackP99MsRuns: runs.map(r => r.pubackP99Ms),
        ackedPerS: med('ackedPerS'),
        missing: runs.reduce((n, r) => n + (r.missing as number), 0),
        cpuSPer100k: Object.fromEntries(cpuParts.map(k => [k, median(runs.map(r => (r.cpuSPer100k as Record<string, number>)[k] as number))]))
      }
    }
    out.latency = latency
  }

  if (o.phases.crash) {
    phase('crash', `(d) kill -9 at ${o.crashRate}/s (the gateway; the bridge), restarted`)
    const crash: Record<string, unknown> = {}
    for (const side of sides) {
      const r = await run(side, db.pgUrl, o, o.crashRate, o.crashS, 0, async () => {
        // the vehicles connect within a second (load.ts), then a third of the run
        await new Promise(resolve => setTimeout(resolve, (1 + o.crashS / 3) * 1000))
        return await side.crash()
      })
      crash[side.name] = { ...runFigures(r), killed: side.kind === 'fleetgate' ? 'gateway' : 'bridge', restartMs: r.during, unacked: r.report.unacked, errors: r.report.errors }
      log(`${side.name}: kill -9 of the ${side.kind === 'fleetgate' ? 'gateway' : 'bridge'}, up again after ${String(r.during)} ms; acked ${r.report.acked}, missing ${r.verify.missing}, duplicated ${r.verify.duplicated}`)
    }
    out.crash = crash
  }
  loadAverage.end = loadavg().map(x => round(x, 1))
  return out
}
