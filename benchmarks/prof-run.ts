// scratch: one load run against a gateway child with --cpu-prof
import { execSync } from 'node:child_process'
import { procStats, createCleanup, startBenchQuestDb, startGatewayChild, watchProcess } from './processes.js'
import { runLoad, summary } from './load.js'
import { readFileSync } from 'node:fs'
const await_read = (): string => readFileSync('/proc/stat', 'utf8')
import { verify } from '../simulator/src/verify.js'
const rate = Number(process.argv[2] ?? 30000)
const qos = Number(process.argv[3] ?? 1) as 0 | 1
const mode = process.argv[4] ?? 'spool'
const dur = Number(process.argv[5] ?? 15)
const prof = process.argv[6] !== 'noprof'
const cleanup = createCleanup()
try {
  const db = await startBenchQuestDb(cleanup)
  const gw = await startGatewayChild(cleanup, db, { ACK_MODE: mode, }, [...(prof ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), ...(process.env.GW_NODE_ARGS ?? '').split(' ').filter(Boolean)])
  const stat = (): number[] => (await_read()).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const qpid = Number(execSync('pgrep -n java').toString().trim())
  const q0 = procStats(qpid).cpuS
  const s0 = stat(); const c0 = process.cpuUsage(); const t0 = performance.now()
  const w = await watchProcess(gw.pid, () => runLoad({ url: gw.mqttUrl, dataDir: gw.dataDir, vehicles: 1000, rate, durationS: dur, qos, window: 16, prefix: 'e2e-' }))
  const s1 = stat(); const c1 = process.cpuUsage(c0); const el = (performance.now() - t0) / 1000
  const busy = (a: number[]): number => a.reduce((x, y) => x + y, 0) - (a[3] ?? 0) - (a[4] ?? 0)
  const all = (a: number[]): number => a.reduce((x, y) => x + y, 0)
  console.log(JSON.stringify({ machineBusyPct: Math.round((busy(s1) - busy(s0)) / (all(s1) - all(s0)) * 200), benchProcPct: Math.round((c1.user + c1.system) / 1e4 / el), questdbPct: Math.round((procStats(qpid).cpuS - q0) / el * 100) }))
  const m = await (await fetch(gw.httpUrl + '/metrics')).text()
  console.log(m.split('\n').filter(l => /^(fleetgate_puback_wait_seconds_(bucket|sum|count)|fleetgate_eventloop_lag_(p50|p99|max)|fleetgate_nodejs_eventloop_lag_(p50|p99|max)|fleetgate_nodejs_gc_duration_seconds_(sum|count)|nodejs_eventloop_lag|nodejs_gc_duration_seconds_sum|nodejs_gc_duration_seconds_count|fleetgate_spool_fsync|fleetgate_ilp_batches|fleetgate_ilp_flush_seconds_(sum|count)|nodejs_heap_size_used|fleetgate_spool)/.test(l)).join('\n'))
  const v = await verify(w.result.ledger, gw.pgUrl)
  console.log(JSON.stringify({ ...summary(w.result), cpu: w.cpuPct, rss: w.rssPeakMb, missing: v.missing, dup: v.duplicated }))
  await gw.stop()
} finally { await cleanup.run() }
