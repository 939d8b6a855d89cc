// The spool across a QuestDB outage: QuestDB is stopped, a QoS 1 load runs
// for `outageS` seconds (acknowledged from the spool), QuestDB comes back on
// the same ports, and while a live load keeps going the backlog drains. The
// drain rate is backlog rows / time from QuestDB answering again until all
// of them are queryable (it includes the drain's backoff, at most 5 s, and
// QuestDB applying its WAL).
import { join } from 'node:path'
import { startQuestDb } from '../lib/questdb/managed.js'
import { count } from '../lib/questdb/sql.js'
import { runLoad, summary } from './harness/load.js'
import { startGatewayChild, tempDir, watchProcess, type Cleanup } from './harness/processes.js'

export interface OutageOptions { outageS: number, rate: number, liveRate: number, vehicles: number, window: number }

export async function runOutage (cleanup: Cleanup, o: OutageOptions): Promise<Record<string, unknown>> {
  const root = join(tempDir(cleanup, 'fleetgate-bench-outage-'), 'root')
  let db = await startQuestDb({ root })
  cleanup.add(() => db.stop())
  const gw = await startGatewayChild(cleanup, db, { ACK_MODE: 'spool' })
  const ports = db.ports
  await db.stop()

  process.stderr.write(`outage: ${o.outageS} s of QoS 1 load at ${o.rate}/s with QuestDB stopped\n`)
  const backlog = await watchProcess(gw.pid, async () => await runLoad({ url: gw.mqttUrl, dataDir: gw.dataDir, vehicles: o.vehicles, rate: o.rate, durationS: o.outageS, qos: 1, window: o.window, prefix: 'bk-' }))
  const backlogRows = backlog.result.acked

  process.stderr.write(`outage: restarting QuestDB, ${backlogRows} readings in the spool; live load at ${o.liveRate}/s meanwhile\n`)
  const tRestart = performance.now()
  db = await startQuestDb({ root, ports })
  const restartS = (performance.now() - tRestart) / 1000
  // the drain is timed from the moment QuestDB answers again
  const t0 = performance.now()
  let drainedS = -1
  const live = runLoad({ url: gw.mqttUrl, dataDir: gw.dataDir, vehicles: Math.max(10, Math.round(o.vehicles / 10)), rate: o.liveRate, durationS: Math.max(30, o.outageS), qos: 1, window: o.window, prefix: 'lv-' })
  const deadline = performance.now() + Math.max(300, o.outageS * 5) * 1000
  while (performance.now() < deadline) {
    const n = await count(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id LIKE 'bk-%'").catch(() => 0)
    if (n >= backlogRows) { drainedS = (performance.now() - t0) / 1000; break }
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  const liveReport = await live
  return {
    outageS: o.outageS,
    backlog: { ...summary(backlog.result), gatewayCpuPct: backlog.cpuPct, gatewayRssPeakMb: backlog.rssPeakMb },
    questdbRestartS: Math.round(restartS * 100) / 100,
    drainedAfterS: drainedS < 0 ? null : Math.round(drainedS * 100) / 100,
    drainRowsPerS: drainedS <= 0 ? null : Math.round(backlogRows / drainedS),
    liveDuringDrain: summary(liveReport)
  }
}
