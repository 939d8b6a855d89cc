// The api as its own process for live.bench.ts: follows the live stream
// through the gateway's broker and answers "stats" over IPC with its own CPU
// time, memory and live-feed counters.
import { pino } from 'pino'
import { loadConfig } from '../schemas/config.js'
import { runApi } from '../api/src/main.js'
import { createLiveMetrics, metricValue } from '../api/src/live/live-metrics.js'

const config = loadConfig()
const metrics = createLiveMetrics()
const api = await runApi(config, pino({ level: 'warn' }), {
  questdb: { httpUrl: config.QUESTDB_HTTP_URL as string, pgUrl: config.QUESTDB_PG_URL as string },
  liveFeed: { metrics }
})
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    void Promise.all([
      metricValue(metrics.clients), metricValue(metrics.positionsSent), metricValue(metrics.positionsConflated),
      metricValue(metrics.clientsClosed, { reason: 'slow' }), metricValue(metrics.maxBufferedBytes)
    ]).then(([clients, positionsSent, positionsConflated, closedSlow, maxBufferedBytes]) => {
      process.send?.({ type: 'stats', cpu: process.cpuUsage(), mem: process.memoryUsage(), clients, positionsSent, positionsConflated, closedSlow, maxBufferedBytes })
    })
  } else if (msg.type === 'close') {
    void api.close().then(() => process.exit(0))
  }
})
process.send?.({ type: 'ready', url: api.url })
// the bench went away: nothing to report to
process.on('disconnect', () => process.exit(0))
