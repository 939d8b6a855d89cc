// A WebSocket client of /api/v1/live in its own process, for the ingest
// bench: publish-to-live latency is now minus each position's ts (see
// probe.ts). Ready once it has its snapshot.
import WebSocket from 'ws'
import { probeChild, probeFailed } from './probe.js'

const ws = new WebSocket(process.env.LIVE_URL as string)
const probe = probeChild(() => ws.close())
ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles: '*' })))
ws.on('error', err => probeFailed('live probe', err))
ws.on('message', data => {
  const msg = JSON.parse(data.toString()) as { type: string, positions?: Array<{ ts: string }> }
  if (msg.type === 'snapshot') probe.ready()
  if (msg.type === 'positions' && probe.measuring()) {
    const now = Date.now()
    for (const p of msg.positions ?? []) probe.received(p.ts, now)
  }
})
