// npm run bench -- profile [--rate 20000] [--qos 1] [--ack-mode spool] [--duration-s 15] [--warmup-s 10] [--live] [--cpu-prof DIR]
// One load step against a gateway child (fleetgate start) and a managed
// QuestDB: where the machine's CPU went (simulator, gateway, QuestDB), the
// gateway's own view (event-loop lag, GC, time waited for durability), and a
// --verify of the step. PUBACK percentiles leave out the first --warmup-s
// seconds (the load runs warm-up + duration); the second-by-second PUBACK
// latency is printed, warm-up included. With --cpu-prof the gateway writes a
// V8 CPU profile into DIR when it stops (open it in Chrome DevTools or
// speedscope). With --live a WebSocket client subscribed to every vehicle
// (the ingest bench's live probe) runs beside the load, and its
// publish-to-live percentiles are printed.
import { parseArgs } from 'node:util'
import { execSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { verify } from '../simulator/src/verify.js'
import { createCleanup, procStats, startBenchQuestDb, scrapeMetrics, startGatewayChild, startLiveProbe, waitSpoolDrained, watchProcess } from './harness/processes.js'
import { runLoad, summary } from './harness/load.js'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    qos: { type: 'string', default: '1' },
    'ack-mode': { type: 'string', default: 'spool' },
    'duration-s': { type: 'string', default: '15' },
    'warmup-s': { type: 'string', default: '10' },
    vehicles: { type: 'string', default: '1000' },
    window: { type: 'string', default: '16' },
    'cpu-prof': { type: 'string' },
    live: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' }
  }
})

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineTicks (): { busy: number, all: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const all = f.reduce((a, b) => a + b, 0)
  return { busy: all - (f[3] ?? 0) - (f[4] ?? 0), all }
}

const SHOWN = /^fleetgate_(puback_wait_seconds_(sum|count)|nodejs_eventloop_lag_(p50|p99|max)_seconds|nodejs_gc_duration_seconds_(sum|count)|ilp_batches_total|ilp_flush_seconds_(sum|count)|spool_unconfirmed_bytes|spool_write_seconds_(sum|count|bucket))/

const cleanup = createCleanup()
try {
  const db = await startBenchQuestDb(cleanup)
  const nodeArgs = values['node-args'].split(' ').filter(Boolean)
  if (values['cpu-prof']) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`)
  const gw = await startGatewayChild(cleanup, db, { ACK_MODE: values['ack-mode'] }, nodeArgs)
  const probe = values.live ? await startLiveProbe(gw.httpUrl) : null
  const javaPid = Number(execSync('pgrep -n java').toString().trim())
  const q0 = procStats(javaPid).cpuS
  const l0 = probe ? procStats(probe.pid).cpuS : 0
  let l1 = 0
  const m0 = machineTicks()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const w = await watchProcess(gw.pid, () => runLoad({
    url: gw.mqttUrl,
    dataDir: gw.dataDir,
    vehicles: Number(values.vehicles),
    rate: Number(values.rate),
    durationS: Number(values['warmup-s']) + Number(values['duration-s']),
    warmupS: Number(values['warmup-s']),
    qos: Number(values.qos) as 0 | 1,
    window: Number(values.window),
    prefix: 'e2e-',
    onPhase: p => {
      if (p === 'measuring') probe?.start()
      if (p === 'draining' && probe) { l1 = procStats(probe.pid).cpuS; void probe.stop() }
    }
  }))
  const s = (performance.now() - t0) / 1000
  const m1 = machineTicks()
  const c1 = process.cpuUsage(c0)
  const cpu = {
    machineBusyPct: Math.round((m1.busy - m0.busy) / (m1.all - m0.all) * 200),
    simulatorPct: Math.round((c1.user + c1.system) / 1e4 / s),
    gatewayPct: w.cpuPct,
    questdbPct: Math.round((procStats(javaPid).cpuS - q0) / s * 100),
    ...(probe ? { liveProbePct: Math.round((l1 - l0) / s * 100) } : {}),
    gatewayRssPeakMb: w.rssPeakMb
  }
  const metrics = [...await scrapeMetrics(gw.httpUrl)].filter(([k]) => SHOWN.test(k)).map(([k, v]) => `${k} ${v}`)
  const drainMs = await waitSpoolDrained(gw)
  const v = await verify(w.result.ledger, gw.pgUrl)
  await gw.stop()
  const live = probe ? await probe.stop() : undefined
  console.log(JSON.stringify({ load: summary(w.result), simulatorLoopLagMs: w.result.loopLagMs, cpu, ...(live ? { live } : {}), spoolDrainedAfterMs: drainMs, missing: v.missing, duplicated: v.duplicated }, null, 2))
  console.log(metrics.join('\n'))
  console.log('PUBACK by second (s n p50 p99 max ms):\n' + w.result.pubackTimeline.map(t => `${t.s} ${t.n} ${t.p50} ${t.p99} ${t.max}`).join('\n'))
} finally {
  await cleanup.run()
}
