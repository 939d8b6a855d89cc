// The peer's bridge, written as a user would write one beside Mosquitto:
// mqtt.js subscribed to fleet/+/telemetry at QoS 1 (a persistent session, so
// a restart gets what Mosquitto queued meanwhile), JSON.parse of each payload
// (one reading or an array), the official QuestDB client over HTTP with its
// auto-flush and a 250 ms timer flush, into the gateway's `readings` table.
// mqtt.js acknowledges a message once it is handed over, before it reaches
// QuestDB: that gap is what a kill -9 costs. MQTT_URL, QUESTDB_HTTP_URL; the
// bench asks for counters over IPC ({ type: 'stats' }).
import mqtt from 'mqtt'
import { Sender } from '@questdb/nodejs-client'
import type { Reading } from '../../schemas/types.js'

const DOUBLES = ['lat', 'lon', 'speed_kmh', 'heading_deg', 'alt_m', 'odometer_km', 'fuel_pct', 'engine_temp_c', 'battery_v'] as const

const qdb = new URL(process.env.QUESTDB_HTTP_URL ?? 'http://127.0.0.1:9000')
const sender = await Sender.fromConfig(`http::addr=${qdb.hostname}:${qdb.port}`)

// what the bench reads: messages and rows handed to the sender, and the start
// time of the last timer flush that completed (everything before it is in QuestDB)
const stats = { received: 0, rows: 0, bad: 0, flushErrors: 0, pendingAts: 0, lastMessageAt: 0, flushedThrough: 0 }

function write (vehicleId: string, r: Reading): void {
  const tsMs = typeof r.ts === 'number' ? r.ts : Date.parse(r.ts)
  if (!Number.isFinite(tsMs)) { stats.bad++; return }
  sender.table('readings').symbol('vehicle_id', vehicleId)
  if (r.seq !== undefined) sender.intColumn('seq', r.seq)
  for (const f of DOUBLES) {
    const v = r[f]
    if (v !== undefined) sender.floatColumn(f, v)
  }
  if (r.rpm !== undefined) sender.intColumn('rpm', r.rpm)
  if (r.ignition !== undefined) sender.booleanColumn('ignition', r.ignition)
  sender.timestampColumn('received_at', Date.now(), 'ms')
  stats.pendingAts++
  stats.rows++
  // at() flushes by itself past the client's row or interval threshold
  sender.at(tsMs, 'ms').then(() => { stats.pendingAts-- }, err => { stats.pendingAts--; stats.flushErrors++; process.stderr.write(`bridge: ${String(err)}\n`) })
}

const client = mqtt.connect(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883', { clientId: 'fleet-questdb-bridge', clean: false, protocolVersion: 4 })
client.on('connect', () => { client.subscribe('fleet/+/telemetry', { qos: 1 }) })
client.on('error', err => { process.stderr.write(`bridge: ${err.message}\n`) })
client.on('message', (topic, payload) => {
  stats.received++
  stats.lastMessageAt = Date.now()
  const vehicleId = topic.split('/')[1] as string
  let data: Reading | Reading[]
  try { data = JSON.parse(payload.toString()) as Reading | Reading[] } catch { stats.bad++; return }
  for (const r of Array.isArray(data) ? data : [data]) write(vehicleId, r)
})

let flushing = false
setInterval(() => {
  if (flushing) return
  flushing = true
  const startedAt = Date.now()
  sender.flush().then(() => { stats.flushedThrough = startedAt }, err => { stats.flushErrors++; process.stderr.write(`bridge: ${String(err)}\n`) }).finally(() => { flushing = false })
}, 250)

process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') process.send?.({ type: 'stats', ...stats, now: Date.now() })
})
client.once('connect', () => process.send?.({ type: 'ready' }))
