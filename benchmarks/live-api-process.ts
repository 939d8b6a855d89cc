// The api as its own process for live.bench.ts. With the broker source it
// follows the live stream through the gateway's broker; with the direct
// source it puts a synthetic fleet on an in-process live bus (ts = publish
// time), which measures the live feed alone. Answers "stats" over IPC with its
// own CPU time, memory and live-feed counters.
import { pino } from 'pino'
import { loadConfig } from '../schemas/config.js'
import { createLocalLiveBus } from '../lib/live-bus.js'
import type { Position } from '../schemas/live.js'
import { runApi } from '../api/src/main.js'
import { createLiveMetrics, metricValue } from '../api/src/live/live-metrics.js'

export interface DirectStart { type: 'start-direct', vehicles: number, hz: number, region: { lon: number, lat: number, size: number } }

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
  let s = 11
  const rand = (): number => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
  const fleet = Array.from({ length: m.vehicles }, (_, i) => ({ id: `bench-${String(i).padStart(5, '0')}`, lat: m.region.lat + rand() * m.region.size, lon: m.region.lon + rand() * m.region.size, seq: 0 }))
  const slots = 50
  let slot = 0
  timer = setInterval(() => {
    const from = Math.floor(slot * fleet.length / slots)
    const to = Math.floor((slot + 1) * fleet.length / slots)
    slot = (slot + 1) % slots
    for (let i = from; i < to; i++) {
      const v = fleet[i] as typeof fleet[number]
      v.lat = Math.min(m.region.lat + m.region.size, Math.max(m.region.lat, v.lat + (rand() - 0.5) * 0.002))
      v.lon = Math.min(m.region.lon + m.region.size, Math.max(m.region.lon, v.lon + (rand() - 0.5) * 0.002))
      const p: Position = { vehicle_id: v.id, ts: new Date().toISOString(), seq: v.seq++, lat: v.lat, lon: v.lon, speed_kmh: 50, heading_deg: 90, ignition: true }
      bus.publish({ kind: 'telemetry', vehicleId: v.id, items: [p] })
    }
  }, 1000 / m.hz / slots)
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
