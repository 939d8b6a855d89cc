// Scale-out on Redis beside one process, the sides alternated in one run:
// (a) publish-to-live p50/p99 across nodes (the load on a `fleetgate gateway`
// node, a live WebSocket client on a `fleetgate api` node that follows Redis)
// against `fleetgate start` (gateway and api in one process, no Redis), same
// generator, same rate, same QuestDB; (b) CPU seconds per 100,000 readings of
// Redis (from /proc/<redis pid>/stat), of the gateway node and of the api node,
// and of the one process; (c) from these, an estimate of how many gateway
// nodes one Redis carries, given with its formula in the result.
import { vehicleIds } from '../simulator/src/simulate.js'
import { obtainTokens } from '../simulator/src/tokens.js'
import { runLoad, summary } from './harness/load.js'
import { median } from './harness/latency-runs.js'
import { startGatewayChild, startLiveProbe, startNodeChild, startRedis, tempDir, treeCpuS, waitSpoolDrained, type Cleanup } from './harness/processes.js'

export interface ScaleOutOptions {
  rate: number
  vehicles: number
  window: number
  warmupS: number
  durationS: number
  pairs: number
}

interface Side {
  name: 'oneProcess' | 'acrossNodes'
  mqttUrl: string
  /** Where the live probe connects: the api (one process: the same process). */
  liveHttpUrl: string
  /** Where the spool's metrics are. */
  gatewayHttpUrl: string
  dataDir: string
  prefix: string
  /** Processes whose CPU is counted, by role. */
  cpu: Record<string, number>
}

const per100k = (cpuS: number, readings: number): number => Math.round(cpuS / Math.max(1, readings) * 1e5 * 1000) / 1000

async function run (side: Side, o: ScaleOutOptions): Promise<Record<string, unknown>> {
  const probe = await startLiveProbe(side.liveHttpUrl)
  const roles = Object.entries(side.cpu)
  let before: number[] = []
  let after: number[] = []
  const cpuNow = (): number[] => roles.map(([, pid]) => treeCpuS([pid]))
  const r = await runLoad({
    url: side.mqttUrl,
    dataDir: side.dataDir,
    vehicles: o.vehicles,
    rate: o.rate,
    durationS: o.warmupS + o.durationS,
    warmupS: o.warmupS,
    qos: 1,
    window: o.window,
    prefix: side.prefix,
    onPhase: p => {
      if (p === 'measuring') { probe.start(); before = cpuNow() }
      if (p === 'draining') { after = cpuNow(); void probe.stop() }
    }
  })
  const l = await probe.stop()
  // readings acknowledged while CPU was measured: the run's acked rate over the measured seconds
  const measured = Math.round(r.ackRatePerS * o.durationS)
  await waitSpoolDrained({ httpUrl: side.gatewayHttpUrl })
  const cpuS: Record<string, number> = {}
  const cpuSPer100k: Record<string, number> = {}
  roles.forEach(([name], i) => {
    // /proc counts in ticks of 10 ms: the raw seconds show how coarse a short run's figure is
    cpuS[name] = Math.round(((after[i] ?? 0) - (before[i] ?? 0)) * 100) / 100
    cpuSPer100k[name] = per100k(cpuS[name] as number, measured)
  })
  return { ...summary(r), liveP50Ms: l.p50, liveP99Ms: l.p99, liveSamples: l.count, measuredReadings: measured, cpuS, cpuSPer100k }
}

/**
 * Redis runs its commands on one thread and a gateway node's loop is one
 * core: at full load each gateway node gives Redis redis/gateway of a core's
 * work, so one Redis core carries gateway/redis nodes.
 */
export function estimateNodesPerRedis (cpuSPer100k: { gateway: number, redis: number }): { estimate: number | null, readingsPerSOneRedisCore: number | null, formula: string } {
  const { gateway, redis } = cpuSPer100k
  const ok = redis > 0 && Number.isFinite(redis) && Number.isFinite(gateway)
  return {
    estimate: ok ? Math.floor(gateway / redis) : null,
    readingsPerSOneRedisCore: ok ? Math.round(1e5 / redis) : null,
    formula: 'gateway nodes per Redis ~ floor(gateway node CPU s per 100k readings / Redis CPU s per 100k readings), both one core at saturation; measured with one api node subscribed (each further api node adds a delivery of every batch) and nothing else on Redis; readings/s one Redis core carries ~ 100,000 / Redis CPU s per 100k'
  }
}

export async function runScaleOut (cleanup: Cleanup, db: { httpUrl: string, pgUrl: string }, o: ScaleOutOptions): Promise<Record<string, unknown>> {
  process.stderr.write('scale-out: redis, one process, a gateway node and an api node\n')
  const redis = await startRedis(cleanup)
  const oneDir = tempDir(cleanup, 'fleetgate-bench-one-')
  const nodesDir = tempDir(cleanup, 'fleetgate-bench-nodes-')
  // tokens before the gateways start, so none waits on the registry's tail
  obtainTokens(oneDir, vehicleIds(o.vehicles, 'so1-'))
  obtainTokens(nodesDir, vehicleIds(o.vehicles, 'so2-'))
  const one = await startGatewayChild(cleanup, db, { DATA_DIR: oneDir })
  const common = { DATA_DIR: nodesDir, QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, REDIS_URL: redis.url, API_AUTH: 'off' }
  const gw = await startNodeChild(cleanup, 'gateway', { ...common, NODE_ID: 'bench-gw-a' })
  const api = await startNodeChild(cleanup, 'api', { ...common, NODE_ID: 'bench-api-b' })
  const sides: Side[] = [
    { name: 'oneProcess', mqttUrl: one.mqttUrl, liveHttpUrl: one.httpUrl, gatewayHttpUrl: one.httpUrl, dataDir: oneDir, prefix: 'so1-', cpu: { process: one.pid } },
    { name: 'acrossNodes', mqttUrl: gw.mqttUrl as string, liveHttpUrl: api.httpUrl, gatewayHttpUrl: gw.httpUrl, dataDir: nodesDir, prefix: 'so2-', cpu: { gateway: gw.pid, api: api.pid, redis: redis.pid } }
  ]
  const runs: Record<string, Array<Record<string, unknown>>> = { oneProcess: [], acrossNodes: [] }
  for (let i = 0; i < o.pairs; i++) {
    // A B, then B A: a phase of the shared machine weighs on both sides
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      process.stderr.write(`scale-out pair ${i + 1}: ${side.name} at ${o.rate}/s\n`)
      runs[side.name]?.push(await run(side, o))
    }
  }
  const med = (name: string, field: string): number => median((runs[name] ?? []).map(x => x[field] as number))
  const medCpu = (name: string, role: string): number => median((runs[name] ?? []).map(x => (x.cpuSPer100k as Record<string, number>)[role] as number))
  const out: Record<string, unknown> = { targetPerS: o.rate, vehicles: o.vehicles, window: o.window, pairs: o.pairs, runs }
  for (const name of ['oneProcess', 'acrossNodes']) {
    out[name] = { ackedPerS: med(name, 'ackedPerS'), liveP50Ms: med(name, 'liveP50Ms'), liveP99Ms: med(name, 'liveP99Ms'), liveP99MsRuns: (runs[name] ?? []).map(x => x.liveP99Ms) }
  }
  const ratio = (a: number, b: number): number | null => b > 0 ? Math.round(a / b * 100) / 100 : null
  out.liveP50Ratio = ratio(med('acrossNodes', 'liveP50Ms'), med('oneProcess', 'liveP50Ms'))
  out.liveP99Ratio = ratio(med('acrossNodes', 'liveP99Ms'), med('oneProcess', 'liveP99Ms'))
  const cpu = { oneProcess: medCpu('oneProcess', 'process'), gateway: medCpu('acrossNodes', 'gateway'), api: medCpu('acrossNodes', 'api'), redis: medCpu('acrossNodes', 'redis') }
  out.cpuSPer100k = cpu
  out.gatewayNodesPerRedis = estimateNodesPerRedis(cpu)
  return out
}
