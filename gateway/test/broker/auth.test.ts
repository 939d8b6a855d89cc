// Identity and access over real MQTT clients, and the TLS and WebSocket transports.
import t from 'tap'
import mqtt from 'mqtt'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { startQuestDbForTest, startStack, issueTokens, connectVehicles, pollCount, count, tempDir, waitWalApplied } from '../../../test/helper.js'
import { vehicleTopic } from '../../../schemas/topics.js'
import { revokeToken } from '../../src/broker/device-registry.js'

t.test('identity and access', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const tokens = issueTokens(stack.config.DATA_DIR, ['car-1', 'car-2', 'car-3'])
  const url = stack.mqttUrl
  const refused = async (opts: mqtt.IClientOptions): Promise<number | undefined> => {
    try {
      const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 4, ...opts })
      await c.endAsync(true)
      return 0
    } catch (err) {
      return (err as { code?: number }).code
    }
  }

  t.equal(await refused({ clientId: 'car-1', username: 'car-1', password: 'fgt_wrong' }), 4, 'wrong token: bad username or password')
  t.equal(await refused({ clientId: 'car-1', username: 'car-2', password: tokens.get('car-2') }), 4, 'username differs from client id')
  t.equal(await refused({ clientId: 'car 1,x=y', username: 'car 1,x=y', password: 'x' }), 2, 'client id that is no vehicle id')
  t.equal(await refused({ clientId: 'car-9', username: 'car-9' }), 4, 'no password')

  const [car1] = await connectVehicles(t, url, new Map([['car-1', tokens.get('car-1') as string]]))
  if (!car1) throw new Error('car-1')
  // publishing on another vehicle's topic: acknowledged, quarantined, not stored
  await car1.publishAsync(vehicleTopic('car-2', 'telemetry'), JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 1 }), { qos: 1 })
  await car1.publishAsync('somewhere/else', 'x', { qos: 1 })
  t.ok(car1.connected, 'still connected after foreign publishes')
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'car-1' AND reason = 'id_mismatch'", 2), 2, 'both quarantined as id_mismatch')
  await waitWalApplied(stack.pgUrl)
  t.equal(await count(stack.pgUrl, 'SELECT count() n FROM readings'), 0, 'nothing stored in readings')

  // subscriptions are limited to the vehicle's own subtree
  // (mqtt.js turns a refused subscription into an error: read the SUBACK itself)
  const granted = await new Promise<number[]>(resolve => {
    car1.on('packetreceive', p => { if (p.cmd === 'suback') resolve(p.granted as number[]) })
    car1.subscribe(['fleet/car-1/cmd', 'fleet/car-2/#', '#', '$fleet/live/#'], { qos: 1 }, () => {})
  })
  t.same(granted, [1, 128, 128, 128], 'own subtree granted, the rest refused')

  // revocation takes effect without restart and closes the session
  const closed = new Promise<void>(resolve => car1.once('close', () => resolve()))
  revokeToken(stack.config.DATA_DIR, 'car-1')
  await closed
  t.pass('the revoked vehicle was disconnected')
  t.equal(await refused({ clientId: 'car-1', username: 'car-1', password: tokens.get('car-1') }), 4, 'and cannot reconnect')
  t.equal(await refused({ clientId: 'car-3', username: 'car-3', password: tokens.get('car-3') }), 0, 'other vehicles are unaffected')
})

t.test('MQTT over TLS and over WebSocket', async t => {
  const dir = tempDir(t)
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' })
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, { MQTT_TLS_PORT: 0, TLS_CERT_FILE: cert, TLS_KEY_FILE: key })
  const { tls, ws } = stack.gw.gateway.addresses
  t.match(tls, /^mqtts:\/\/127\.0\.0\.1:\d+$/)
  t.match(ws, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/)
  const tokens = issueTokens(stack.config.DATA_DIR, ['tls-1', 'ws-1'])
  const [overTls] = await connectVehicles(t, tls as string, new Map([['tls-1', tokens.get('tls-1') as string]]), { rejectUnauthorized: false })
  const [overWs] = await connectVehicles(t, ws as string, new Map([['ws-1', tokens.get('ws-1') as string]]))
  const ts = new Date().toISOString()
  await overTls?.publishAsync(vehicleTopic('tls-1', 'telemetry'), JSON.stringify({ ts, lat: 1, lon: 1 }), { qos: 1 })
  await overWs?.publishAsync(vehicleTopic('ws-1', 'telemetry'), JSON.stringify({ ts, lat: 2, lon: 2 }), { qos: 1 })
  t.equal(await pollCount(stack.pgUrl, 'SELECT count() n FROM readings', 2), 2, 'one reading through each')
})

t.test('per-vehicle rate limit throttles and drops nothing', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, { DEVICE_RATE_LIMIT: 100 })
  const [car] = await connectVehicles(t, stack.mqttUrl, issueTokens(stack.config.DATA_DIR, ['fast-1']))
  if (!car) throw new Error('fast-1')
  const base = Date.now() - 3600e3
  const t0 = Date.now()
  // 600 readings in batches of 50: the budget is 200 at once, then 100/s
  await Promise.all(Array.from({ length: 12 }, (_, b) => car.publishAsync(vehicleTopic('fast-1', 'telemetry'),
    JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ ts: new Date(base + (b * 50 + i) * 1000).toISOString(), lat: 1, lon: 1 }))), { qos: 1 })))
  const elapsed = Date.now() - t0
  t.ok(elapsed >= 3500, `600 readings at 100/s with a burst of 200 took ${elapsed} ms (at least 4 s of budget)`)
  const metrics = await stack.gw.gateway.metrics.registry.getSingleMetricAsString('fleetgate_throttled_publishes_total')
  t.match(metrics, /fleetgate_throttled_publishes_total [1-9]/, 'throttling counted')
  t.equal(await pollCount(stack.pgUrl, 'SELECT count() n FROM readings', 600), 600, 'nothing dropped')
})
