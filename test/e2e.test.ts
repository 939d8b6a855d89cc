// The whole path on real parts: managed QuestDB, gateway, api; real MQTT and
// WebSocket clients.
import t from 'tap'
import mqtt from 'mqtt'
import WebSocket from 'ws'
import { startQuestDbForTest, startStack, issueTokens, pollCount, query } from './helper.js'
import { vehicleTopic } from '../schemas/topics.js'

const VEHICLES = 10
const PER_VEHICLE = 100

t.test('1,000 readings from 10 vehicles and 20 invalid ones, end to end', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const ids = Array.from({ length: VEHICLES }, (_, i) => `e2e-${i}`)
  const tokens = issueTokens(stack.config.DATA_DIR, ids)

  // a live client connected before anything is published
  const ws = new WebSocket(stack.httpUrl.replace(/^http/, 'ws') + '/api/v1/live')
  t.teardown(() => ws.close())
  const live: Array<{ vehicle_id: string, ts: string }> = []
  await new Promise<void>((resolve, reject) => {
    ws.on('error', reject)
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles: '*' })))
    ws.on('message', data => {
      const msg = JSON.parse(data.toString())
      if (msg.type === 'snapshot') resolve()
      if (msg.type === 'positions') live.push(...msg.positions)
    })
  })

  const base = Date.now() - 3600e3
  const clients = await Promise.all(ids.map(id => mqtt.connectAsync(stack.mqttUrl, { clientId: id, username: id, password: tokens.get(id), protocolVersion: 4 })))
  t.teardown(() => Promise.all(clients.map(c => c.endAsync(true))))

  const publishes: Promise<unknown>[] = []
  clients.forEach((c, v) => {
    for (let i = 0; i < PER_VEHICLE; i++) {
      const reading = { ts: new Date(base + i * 1000 + v).toISOString(), seq: i, lat: -26 + v / 100, lon: 28 + i / 1000, speed_kmh: 40, ignition: true }
      publishes.push(c.publishAsync(vehicleTopic(ids[v] as string, 'telemetry'), JSON.stringify(reading), { qos: 1 }))
    }
  })
  const now = new Date().toISOString()
  const invalid: Array<[string, string]> = [
    ...Array.from({ length: 5 }, (_, i): [string, string] => ['invalid_json', `{"ts": "${now}", "lat": ${i}`]),
    ...Array.from({ length: 5 }, (_, i): [string, string] => ['schema', JSON.stringify({ ts: now, lat: 100 + i, lon: 1 })]),
    ...Array.from({ length: 5 }, (_, i): [string, string] => ['future_ts', JSON.stringify({ ts: new Date(Date.now() + 3600e3 + i).toISOString(), lat: 1, lon: 1 })]),
    ...Array.from({ length: 5 }, (_, i): [string, string] => ['too_old', JSON.stringify({ ts: new Date(Date.now() - 400 * 86400e3 + i).toISOString(), lat: 1, lon: 1 })])
  ]
  invalid.forEach(([, payload], i) => {
    publishes.push((clients[i % VEHICLES] as mqtt.MqttClient).publishAsync(vehicleTopic(ids[i % VEHICLES] as string, 'telemetry'), payload, { qos: 1 }))
  })
  await Promise.all(publishes)

  const n = await pollCount(stack.pgUrl, 'SELECT count() n FROM readings', VEHICLES * PER_VEHICLE)
  t.equal(n, VEHICLES * PER_VEHICLE, 'exactly 1,000 rows in readings')
  const r = await pollCount(stack.pgUrl, 'SELECT count() n FROM rejections', invalid.length)
  t.equal(r, invalid.length, 'exactly 20 rows in rejections')
  const reasons = await query<{ reason: string, n: string }>(stack.pgUrl, 'SELECT reason, count() n FROM rejections ORDER BY reason')
  t.same(reasons.map(x => [x.reason, Number(x.n)]), [['future_ts', 5], ['invalid_json', 5], ['schema', 5], ['too_old', 5]], 'right reasons')

  // the API returns a vehicle's readings for a time range
  const from = new Date(base + 10 * 1000).toISOString()
  const to = new Date(base + 20 * 1000).toISOString()
  const res = await fetch(`${stack.httpUrl}/api/v1/vehicles/e2e-3/readings?from=${from}&to=${to}`)
  t.equal(res.status, 200)
  const body = await res.json() as { readings: Array<{ seq: number, ts: string, vehicle_id: string }> }
  t.same(body.readings.map(x => x.seq), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'from inclusive, to exclusive')
  t.equal(body.readings[0]?.ts, new Date(base + 10 * 1000 + 3).toISOString().replace('Z', '000Z'), 'RFC 3339 with microseconds')
  const latest = await (await fetch(`${stack.httpUrl}/api/v1/vehicles`)).json() as { vehicles: Array<{ vehicle_id: string, position: { seq: number } }> }
  t.equal(latest.vehicles.length, VEHICLES)
  t.ok(latest.vehicles.every(v => v.position.seq === PER_VEHICLE - 1), 'latest position per vehicle')

  // the live client got every accepted reading exactly once
  const keys = new Set(live.map(p => `${p.vehicle_id}@${p.ts}`))
  t.equal(live.length, VEHICLES * PER_VEHICLE, 'live: 1,000 positions')
  t.equal(keys.size, VEHICLES * PER_VEHICLE, 'live: each once')
})
