// End to end through the gateway (a child process running `fleetgate start`
// against the benchmark's QuestDB): the highest rate sustained with zero loss
// (a ladder of steps, each checked by verify() against QuestDB), QoS 0 and 1,
// per ACK_MODE; PUBACK, publish-to-live and publish-to-queryable latency at
// half the QoS 1 maximum and at 20,000 readings/s (latencyRuns runs at each,
// reported as medians with every run's p99); and the gateway's CPU and RSS
// with 10,000 connected vehicles.
import pg from 'pg'
import { verify } from '../simulator/src/verify.js'
import { vehicleIds } from '../simulator/src/simulate.js'
import { LatencyRecorder } from '../simulator/src/stats.js'
import { runLoad, summary } from './harness/load.js'
import { aggregateRuns, type RunFigures } from './harness/latency-runs.js'
import { climb } from './harness/ladder.js'
import { procStats, startGatewayChild, startLiveProbe, startRelayProbe, waitSpoolDrained, watchProcess, type Cleanup, type GatewayChild, type LatencyProbe, type ProbeSummary } from './harness/processes.js'
import type { Report } from '../simulator/src/simulate.js'

export interface IngestOptions {
  stepS: number
  /** Seconds before each latency run's stepS whose latency is not counted. */
  warmupS: number
  vehicles: number
  window: number
  startRate: number
  maxRate: number
  factor: number
  /** Halvings of the gap between the last step that held and the first that did not. */
  refine: number
  ackModes: string[]
  fleetVehicles: number
  fleetRate: number
  /** Latency runs at each latency rate; their figures are reported as the median and each run's p99. */
  latencyRuns: number
  /**
   * A bare broker (Mosquitto) already running: each latency run at 20,000/s
   * is followed by the same load on it, with a subscriber in place of the
   * live feed, so each p99 has a ceiling measured minutes from it.
   */
  bareBroker?: { url: string, pid: number }
}

interface Step { targetPerS: number, ackedPerS: number, ok: boolean, missing: number, duplicated: number, unacked: number, errors: number, skipped: number, pubackP99Ms: number }

async function ladder (gw: GatewayChild, o: IngestOptions, qos: 0 | 1): Promise<{ sustainedPerS: number, steps: Step[] }> {
  const steps: Step[] = []
  let sustained = 0
  await climb({ start: o.startRate, max: o.maxRate, factor: o.factor, refine: o.refine }, async rate => {
    const r = await runLoad({ url: gw.mqttUrl, dataDir: gw.dataDir, vehicles: o.vehicles, rate, durationS: o.stepS, qos, window: o.window, prefix: 'e2e-' })
    await waitSpoolDrained(gw)
    const v = await verify(r.ledger, gw.pgUrl)
    const ok = v.ok && r.unacked === 0 && r.errors === 0 && r.ackRatePerS >= 0.95 * rate
    steps.push({ targetPerS: rate, ackedPerS: r.ackRatePerS, ok, missing: v.missing, duplicated: v.duplicated, unacked: r.unacked, errors: r.errors, skipped: r.skipped, pubackP99Ms: r.pubackMs.p99 })
    process.stderr.write(`  qos ${qos} ${rate}/s: acked ${r.ackRatePerS}/s, missing ${v.missing}, ${ok ? 'ok' : 'not sustained'}\n`)
    if (ok) sustained = Math.max(sustained, r.ackRatePerS)
    return ok
  })
  return { sustainedPerS: sustained, steps }
}

/**
 * The load at `rate` (QoS 1, warm-up then o.stepS) with a latency probe
 * measuring after the warm-up; onMeasuring(true/false) as it starts and ends.
 */
async function probedLoad (url: string, dataDir: string | undefined, o: IngestOptions, rate: number, prefix: string, probe: LatencyProbe, onMeasuring?: (measuring: boolean) => void): Promise<{ r: Report, l: ProbeSummary }> {
  const r = await runLoad({
    url,
    ...(dataDir === undefined ? {} : { dataDir }),
    vehicles: o.vehicles,
    rate,
    durationS: o.warmupS + o.stepS,
    warmupS: o.warmupS,
    qos: 1,
    window: o.window,
    prefix,
    onPhase: p => {
      if (p === 'publishing') return
      const measuring = p === 'measuring'
      onMeasuring?.(measuring)
      if (measuring) probe.start()
      else void probe.stop()
    }
  })
  return { r, l: await probe.stop() }
}

const pubackTail = (r: Report): RunFigures => ({ pubackP90Ms: r.pubackMs.p90, pubackMaxMs: r.pubackMs.max, warmupS: r.warmupS, pubackP99WithWarmupMs: r.pubackAllMs.p99, simulatorLoopLagP99Ms: r.loopLagMs.p99 })

/** A run with a live WebSocket client and queryable probes beside it. */
async function latencyRun (gw: GatewayChild, o: IngestOptions, rate: number): Promise<RunFigures> {
  const queryable = new LatencyRecorder()
  let measuring = false
  const probe = await startLiveProbe(gw.httpUrl)
  const db = new pg.Client({ connectionString: gw.pgUrl })
  await db.connect()
  const ids = vehicleIds(o.vehicles, 'e2e-')
  let probing = true
  // one probe at a time: from a moment t, the first reading of a vehicle at or after t, polled until visible
  const probes = (async () => {
    let k = 0
    while (probing) {
      if (!measuring) { await new Promise(resolve => setTimeout(resolve, 50)); continue }
      const id = ids[(k++ * 7919) % ids.length] as string
      const from = new Date().toISOString().replace('Z', '000Z')
      const deadline = Date.now() + 15000
      while (probing && Date.now() < deadline) {
        const res = await db.query<{ t: string | null }>('SELECT min(cast(ts AS long)) t FROM readings WHERE vehicle_id = $1 AND ts >= $2', [id, from])
        const t = res.rows[0]?.t
        if (t !== null && t !== undefined) { queryable.record(Date.now() - Number(t) / 1000); break }
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  })()
  const { r, l } = await probedLoad(gw.mqttUrl, gw.dataDir, o, rate, 'e2e-', probe, m => { measuring = m })
  probing = false
  await probes
  await db.end()
  const q = queryable.summary()
  return {
    ...summary(r),
    ...pubackTail(r),
    liveP50Ms: l.p50,
    liveP99Ms: l.p99,
    liveSamples: l.count,
    queryableP50Ms: q.p50,
    queryableP99Ms: q.p99,
    queryableSamples: queryable.count()
  }
}

/** The same load on the bare broker, a subscriber of every vehicle in place of the live feed. */
async function bareRun (broker: { url: string, pid: number }, o: IngestOptions, rate: number): Promise<RunFigures> {
  const probe = await startRelayProbe(broker.url)
  const w = await watchProcess(broker.pid, async () => await probedLoad(broker.url, undefined, o, rate, 'bare-', probe))
  const { r, l } = w.result
  return { ...summary(r), ...pubackTail(r), subscriberP50Ms: l.p50, subscriberP99Ms: l.p99, subscriberSamples: l.count, brokerCpuPct: w.cpuPct }
}

/**
 * o.latencyRuns latency runs at one rate, each after the spool of the last has
 * drained; with a bare broker, each followed by the same load on it. Each
 * run's ratios to the bare run after it are kept (pubackP99VsBare,
 * liveP99VsBare), so a phase of the machine weighs on both sides of a ratio.
 */
async function latencyRuns (gw: GatewayChild, o: IngestOptions, rate: number, bareBroker?: { url: string, pid: number }): Promise<Record<string, unknown>> {
  const runs: RunFigures[] = []
  const bare: RunFigures[] = []
  for (let i = 0; i < o.latencyRuns; i++) {
    await waitSpoolDrained(gw)
    const r = await latencyRun(gw, o, rate)
    let line = `  latency ${rate}/s, run ${i + 1} of ${o.latencyRuns}: PUBACK p99 ${r.pubackP99Ms} ms, live p99 ${r.liveP99Ms} ms, queryable p99 ${r.queryableP99Ms} ms`
    if (bareBroker) {
      const b = await bareRun(bareBroker, o, rate)
      bare.push(b)
      r.pubackP99VsBare = r.pubackP99Ms as number / (b.pubackP99Ms as number)
      r.liveP99VsBare = r.liveP99Ms as number / (b.subscriberP99Ms as number)
      line += `; bare broker: PUBACK p99 ${b.pubackP99Ms} ms, subscriber p99 ${b.subscriberP99Ms} ms`
    }
    process.stderr.write(line + '\n')
    runs.push(r)
  }
  return { targetPerS: rate, ...aggregateRuns(runs), ...(bare.length > 0 ? { bare: aggregateRuns(bare) } : {}) }
}

async function fleetRun (gw: GatewayChild, o: IngestOptions): Promise<Record<string, number>> {
  let a = procStats(gw.pid)
  let t0 = performance.now()
  let publishCpuPct = 0
  const w = await watchProcess(gw.pid, () => runLoad({
    url: gw.mqttUrl,
    dataDir: gw.dataDir,
    vehicles: o.fleetVehicles,
    rate: o.fleetRate,
    durationS: o.stepS,
    qos: 1,
    window: 1,
    prefix: 'fleet-',
    connectSpreadS: 10,
    onPhase: p => {
      if (p === 'publishing') { a = procStats(gw.pid); t0 = performance.now() } else if (p === 'draining') publishCpuPct = Math.round((procStats(gw.pid).cpuS - a.cpuS) / ((performance.now() - t0) / 1000) * 1000) / 10
    }
  }))
  const v = await verify(w.result.ledger, gw.pgUrl)
  return { ...summary(w.result), lossFree: v.ok ? 1 : 0, gatewayCpuPct: publishCpuPct, gatewayRssPeakMb: w.rssPeakMb, gatewayRssEndMb: w.rssEndMb }
}

export async function runIngest (cleanup: Cleanup, db: { httpUrl: string, pgUrl: string }, o: IngestOptions): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const mode of o.ackModes) {
    process.stderr.write(`ingest, ACK_MODE=${mode}\n`)
    const gw = await startGatewayChild(cleanup, db, { ACK_MODE: mode })
    const qos1 = await ladder(gw, o, 1)
    const qos0 = await ladder(gw, o, 0)
    const res: Record<string, unknown> = { qos1, qos0 }
    if (qos1.sustainedPerS > 0) res.atHalfMax = await latencyRuns(gw, o, Math.round(qos1.sustainedPerS / 2))
    res.at20k = await latencyRuns(gw, o, 20000, o.bareBroker)
    await gw.stop()
    // a fresh gateway: after the ladder's overloaded steps V8 keeps the old
    // generation they grew, which would count in the fleet step's RSS
    const fresh = await startGatewayChild(cleanup, db, { ACK_MODE: mode })
    res.fleet = await fleetRun(fresh, o)
    await fresh.stop()
    out[mode] = res
  }
  return out
}
