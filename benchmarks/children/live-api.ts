// The api as its own process for live.bench.ts. With the broker source it
// follows the live stream through the gateway's broker; with the direct
// source it puts a synthetic fleet on an in-process live bus (ts = publish
// time), which measures the live feed alone. Answers "stats" over IPC with its
// own CPU time, memory and live-feed counters.
import { pino } from 'pino'
import { loadConfig } from '../../schemas/config.js'
import { createLocalLiveBus } from '../../lib/live-bus.js'
import type { Position } from '../../schemas/live.js'
import { runApi } from '../../api/src/main.js'
import { createLiveMetrics, metricValue } from '../../api/src/live/live-metrics.js'
import { createFleetWalk, type Region } from './fleet.js'

export interface DirectStart { type: 'start-direct', vehicles: number, hz: number, region: Region }

const config = loadConfig()
const metrics = createLiveMetrics()
const direct = process.env.BENCH_SOURCE === 'direct' ? createLocalLiveBus() : undefined
const api = await runApi(config, pino({ level: 'warn' }), {
  questdb: { httpUrl: config.QUESTDB_HTTP_URL as string, pgUrl: config.QUESTDB_PG_URL as string },
  liveFeed: { metrics },
  ...(direct ? { live: direct } : {})
})

let timer: NodeJS.Timeout | undefined
function startDirect (m: DirectStart): void {
  const bus = direct
  if (!bus) return
  const walk = createFleetWalk(m.region)
  const fleet = Array.from({ length: m.vehicles }, (_, i) => ({ id: `bench-${String(i).padStart(5, '0')}`, ...walk.place(), seq: 0 }))
  timer = walk.drive(fleet, m.hz, (v, reading) => {
    const p: Position = { vehicle_id: v.id, ...reading }
    bus.publish({ kind: 'telemetry', vehicleId: v.id, items: [p] })
  })
  process.send?.({ type: 'connected', connectMs: 0 })
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    void Promise.all([
      metricValue(metrics.clients), metricValue(metrics.positionsSent), metricValue(metrics.positionsConflated),
      metricValue(metrics.clientsClosed, { reason: 'slow' }), metricValue(metrics.maxBufferedBytes)
    ]).then(([clients, positionsSent, positionsConflated, closedSlow, maxBufferedBytes]) => {
      process.send?.({ type: 'stats', cpu: process.cpuUsage(), mem: process.memoryUsage(), clients, positionsSent, positionsConflated, closedSlow, maxBufferedBytes })
    })
  } else if (msg.type === 'start-direct') {
    startDirect(msg as DirectStart)
  } else if (msg.type === 'close') {
    clearInterval(timer)
    void api.close().then(() => process.exit(0))
  }
})
process.send?.({ type: 'ready', url: api.url })
// the bench went away: nothing to report to
process.on('disconnect', () => process.exit(0))
