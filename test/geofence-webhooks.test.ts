// Alerts reach webhooks end to end, API keys required: a geofence and a
// webhook made over the admin API; a vehicle driven over MQTT through the
// geofence; the receiver gets its enter and exit once each, signed with the
// webhook's secret and keyed by the alert's id, and a receiver that was down
// at first still gets them (the gateway queued them before it acknowledged).
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import mqtt from 'mqtt'
import { vehicleTopic } from '../schemas/topics.js'
import { runGateway } from '../gateway/src/main.js'
import { runApi } from '../api/src/main.js'
import { createApiKey } from '../api/src/api-keys.js'
import { issueToken } from '../gateway/src/broker/device-registry.js'
import { verifyWebhookSignature } from '../gateway/src/webhooks/webhook-signature.js'
import { pollUntil, quietLogger, startQuestDbForTest, tempDir, testConfig } from './helper.js'

const YARD = { id: 'yard', name: 'Yard', geometry: { type: 'Polygon', coordinates: [[[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]] } }

interface Received { body: string, signature: string, key: string }

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

t.test('geofence alerts are POSTed to a webhook, signed, once each, after the receiver comes back', async t => {
  // a receiver that refuses (503) its first requests, then takes them
  const received: Received[] = []
  let refusals = 3
  const receiver = createServer((req, res) => {
    void readBody(req).then(body => {
      if (refusals > 0) { refusals--; res.writeHead(503).end(); return }
      received.push({ body, signature: String(req.headers['fleetgate-signature']), key: String(req.headers['idempotency-key']) })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>(resolve => receiver.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { receiver.closeAllConnections(); receiver.close() })
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

  const db = await startQuestDbForTest(t)
  const config = testConfig(tempDir(t), db, { API_AUTH: 'required', WEBHOOK_BACKOFF_MS: 50, WEBHOOK_BACKOFF_MAX_MS: 200 })
  const admin = createApiKey(config.DATA_DIR, 'admin').key
  const token = issueToken(config.DATA_DIR, 'w1')
  const log = quietLogger()
  const gw = await runGateway(config, log)
  const api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
  t.teardown(async () => { await api.close(); await gw.close() })
  const post = async (path: string, body: unknown): Promise<{ status: number, body: any }> => {
    const res = await fetch(api.url + path, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }

  t.equal((await post('/api/v1/geofences', YARD)).status, 201, 'geofence made')
  const hook = await post('/api/v1/webhooks', { url: receiverUrl, types: ['geofence_enter', 'geofence_exit'] })
  t.equal(hook.status, 201, 'webhook registered')
  const secret = hook.body.secret as string
  await pollUntil(async () => gw.gateway.geofencing.store.index().size === 1, 5000, 'the gateway to follow the geofence')
  // the gateway follows webhooks.jsonl: its delivery knows the webhook
  await pollUntil(async () => gw.gateway.webhooks.depth().has(hook.body.id as string), 10000, 'the gateway to follow the webhook')

  const c = await mqtt.connectAsync(gw.gateway.addresses.mqtt, { clientId: 'w1', username: 'w1', password: token, protocolVersion: 4, reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true).catch(() => {}))
  const t0 = Date.now() - 600_000
  const path = [9.99, 10.005, 10.006, 10.02].map((lon, i) => ({ ts: t0 + i * 10_000, lat: 50.005, lon, speed_kmh: 30 }))
  for (const r of path) await c.publishAsync(vehicleTopic('w1', 'telemetry'), JSON.stringify(r), { qos: 1 })

  await pollUntil(async () => new Set(received.map(r => r.key)).size >= 2, 30000, 'the receiver to get the enter and the exit')
  // a moment for any duplicate to show
  await new Promise(resolve => setTimeout(resolve, 500))
  const bodies = received.map(r => JSON.parse(r.body) as { webhook_id: string, alert: { id: string, type: string, vehicle_id: string, geofence_id: string } })
  t.ok(bodies.every(b => b.webhook_id === hook.body.id), 'each names its webhook')
  const alerts = bodies.map(b => b.alert)
  t.same(alerts.map(a => a.type).sort(), ['geofence_enter', 'geofence_exit'], 'one enter and one exit')
  t.ok(alerts.every(a => a.vehicle_id === 'w1' && a.geofence_id === 'yard'), 'for the vehicle and the geofence')
  t.ok(received.every(r => verifyWebhookSignature(r.signature, secret, r.body)), 'every body signed with the secret')
  t.ok(received.every((r, i) => r.key.startsWith((alerts[i] as { id: string }).id)), 'the idempotency key carries the alert id')
  t.equal(refusals, 0, 'the receiver refused the first attempts')
})
