// A WebSocket client of /api/v1/live in its own process, for the ingest
// bench: publish-to-live latency is now minus each position's ts, and a probe
// inside the load generator's process would add that busy process's own
// event-loop lag to every sample. Told by IPC when to measure; answers with
// the percentiles.
import WebSocket from 'ws'
import { LatencyRecorder } from '../simulator/src/stats.js'

const url = process.env.LIVE_URL as string
const live = new LatencyRecorder()
let measuring = false
const ws = new WebSocket(url)
ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles: '*' })))
ws.on('error', err => { process.stderr.write(`live probe: ${err.message}\n`); process.exit(1) })
ws.on('message', data => {
  const msg = JSON.parse(data.toString()) as { type: string, positions?: Array<{ ts: string }> }
  if (msg.type === 'snapshot') process.send?.({ type: 'ready' })
  if (msg.type === 'positions' && measuring) {
    const now = Date.now()
    for (const p of msg.positions ?? []) live.record(now - Date.parse(p.ts))
  }
})
process.on('message', (m: { type: string }) => {
  if (m.type === 'start') measuring = true
  if (m.type === 'stop') {
    measuring = false
    process.send?.({ type: 'summary', ...live.summary(), count: live.count() }, () => { ws.close(); process.exit(0) })
  }
})
