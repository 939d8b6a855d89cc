// `fleetgate start` with GATEWAY_WORKERS and REDIS_URL, as users run it (API
// keys required): two nodes of two workers each, a DATA_DIR each, one Redis,
// one QuestDB. Tokens issued on node A work on node B; a vehicle on A is on
// B's live feed (and on A's, once); a vehicle that reconnects to B ends with
// one session and one online record (A closes its session without recording
// offline); a token revoked on B closes the session on A within a second; a
// vehicle over its rate budget on A stays throttled on B.
import t from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { freePorts } from '../lib/free-ports.js'
import { startQuestDbForTest, issueTokens, pollCount, pollUntil, tempDir, query } from './helper.js'
import { startGatewayProcess, waitConnectable, exited } from './gateway-process-helper.js'
import { startRedisForTest } from './redis-helper.js'
import { openLive, wsUrl } from '../api/test/live-helper.js'
import { createApiKey } from '../api/src/api-keys.js'
import { revokeToken } from '../gateway/src/broker/device-registry.js'
import { vehicleTopic } from '../schemas/topics.js'
import { metricSum, text } from './metrics-helper.js'

const RATE = 100

t.test('two `fleetgate start` nodes of two workers each on one Redis', async t => {
  const [db, redis] = await Promise.all([startQuestDbForTest(t), startRedisForTest(t)])
  const dataA = tempDir(t)
  const dataB = tempDir(t)
  const [mqA, httpA, mqB, httpB] = await freePorts(4)
  const onA = ['a-0', 'a-1', 'a-2', 'a-3']
  // issued on node A only: node B learns them from the Redis stream
  const tokens = issueTokens(dataA, [...onA, 'hop', 'hog', 'probe-a', 'probe-b'])
  const keyA = createApiKey(dataA, 'read').key
  const keyB = createApiKey(dataB, 'read').key
  const common = { MQTT_HOST: '127.0.0.1', MQTT_WS_PORT: '-1', HTTP_HOST: '127.0.0.1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, REDIS_URL: redis.url, GATEWAY_WORKERS: '2', ILP_FLUSH_INTERVAL_MS: '20', DEVICE_RATE_LIMIT: String(RATE) }
  const procs = [
    startGatewayProcess({ ...common, NODE_ID: 'A', DATA_DIR: dataA, MQTT_PORT: String(mqA), HTTP_PORT: String(httpA) }, 'start'),
    startGatewayProcess({ ...common, NODE_ID: 'B', DATA_DIR: dataB, MQTT_PORT: String(mqB), HTTP_PORT: String(httpB) }, 'start')
  ]
  t.teardown(async () => { await Promise.all(procs.map(async p => { p.kill('SIGTERM'); await exited(p) })) })
  const mqttA = `mqtt://127.0.0.1:${mqA}`
  const mqttB = `mqtt://127.0.0.1:${mqB}`
  const apiA = `http://127.0.0.1:${httpA}`
  const apiB = `http://127.0.0.1:${httpB}`
  await waitConnectable(mqttA, tokens.get('probe-a') as string, 'probe-a')
  await waitConnectable(mqttB, tokens.get('probe-b') as string, 'probe-b')
  t.pass('node B accepts a token issued on node A')
  for (const url of [apiA, apiB]) await pollUntil(async () => (await fetch(`${url}/readyz`).catch(() => null))?.status === 200, 60000, `${url} ready`)
  t.match(await text(`${apiA}/metrics`), /fleetgate_bus_up\{node="A"\} 1/, 'node A: on the bus')

  const lives = await Promise.all([[apiA, keyA], [apiB, keyB]].map(async ([url, key]) => {
    const live = await openLive(t, wsUrl(url as string), { headers: { authorization: `Bearer ${key as string}` } })
    live.send({ type: 'subscribe', vehicles: '*' })
    await live.next(m => m.type === 'snapshot', 'snapshot')
    return live
  }))
  const [liveA, liveB] = lives as [NonNullable<typeof lives[0]>, NonNullable<typeof lives[0]>]

  const connect = async (url: string, id: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(url, { clientId: id, username: id, password: tokens.get(id), reconnectPeriod: 0, protocolVersion: 4 })
    c.on('error', () => {})
    t.teardown(() => { c.end(true) })
    return c
  }
  const base = Date.now() - 3600e3
  const reading = (i: number, lat = 1): string => JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), lat, lon: 2, seq: i })

  // the live stream: vehicles on A, seen on B; on A's own api once each
  const clients = new Map<string, MqttClient>()
  for (const id of onA) clients.set(id, await connect(mqttA, id))
  for (let i = 0; i < 5; i++) {
    for (const [id, c] of clients) await c.publishAsync(vehicleTopic(id, 'telemetry'), reading(i), { qos: 1 })
  }
  const seen = (live: typeof liveA, id: string): boolean => live.positions.some(p => p.vehicle_id === id && p.seq === 4)
  await pollUntil(async () => onA.every(id => seen(liveB, id) && seen(liveA, id)), 15000, 'positions on both apis').catch(() => {})
  t.same(onA.filter(id => !seen(liveB, id)), [], "a map on node B's api receives the vehicles on node A's workers")
  t.same(onA.filter(id => !seen(liveA, id)), [], "and so does one on node A's")
  const twice = liveA.positions.filter((p, i) => liveA.positions.findIndex(q => q.vehicle_id === p.vehicle_id && q.seq === p.seq) !== i)
  t.same(twice, [], "no position reaches node A's api twice (Redis, not Redis and IPC)")

  // a vehicle on A reconnects to B (its old connection still open)
  const first = await connect(mqttA, 'hop')
  for (let i = 0; i < 3; i++) await first.publishAsync(vehicleTopic('hop', 'telemetry'), reading(i, 3), { qos: 1 })
  await pollCount(db.pgUrl, "SELECT count() n FROM vehicle_status WHERE vehicle_id = 'hop'", 1, 15000)
  const firstClosed = new Promise<void>(resolve => first.once('close', () => resolve()))
  const second = await connect(mqttB, 'hop')
  await firstClosed
  t.pass('node A closed the session that node B took over')
  for (let i = 3; i < 6; i++) await second.publishAsync(vehicleTopic('hop', 'telemetry'), reading(i, 3), { qos: 1 })
  await pollUntil(async () => metricSum(await text(`${apiA}/metrics`), 'fleetgate_mqtt_connected_clients') === onA.length, 5000, 'node A sessions').catch(() => {})
  t.equal(metricSum(await text(`${apiA}/metrics`), 'fleetgate_mqtt_connected_clients'), onA.length, 'node A holds no session of hop')
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'hop'", 6, 15000), 6, 'hop: its 6 readings')
  // its last session ends: the offline comes after whatever the hop recorded
  await second.endAsync()
  await pollCount(db.pgUrl, "SELECT count() n FROM vehicle_status WHERE vehicle_id = 'hop' AND NOT online", 1, 15000)
  const hop = await query<{ online: boolean, origin: string }>(db.pgUrl, "SELECT online, origin FROM vehicle_status WHERE vehicle_id = 'hop' ORDER BY ts")
  t.same(hop.map(r => r.online), [true, false], `hop: one online (on A), no offline at the takeover, no second online on B, one offline at its end (${hop.map(r => `${r.online} by ${r.origin}`).join(', ')})`)
  t.same(hop.map(r => r.origin.split('/')[0]), ['A', 'B'], 'the online written by a worker of A, the offline by one of B')

  // a token revoked on B closes the session on A
  const victim = clients.get('a-0') as MqttClient
  const t0 = Date.now()
  const revoked = new Promise<void>(resolve => victim.once('close', () => resolve()))
  revokeToken(dataB, 'a-0')
  await revoked
  t.ok(Date.now() - t0 < 1500, `revoked on B, the session on A was closed after ${Date.now() - t0} ms`)

  // a vehicle over its budget on A stays throttled on B
  const hog = await connect(mqttA, 'hog')
  const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ ts: new Date(base + i * 1000).toISOString(), lat: 5, lon: 6, seq: i })))
  // acknowledged only once its debt is paid: not awaited
  hog.publish(vehicleTopic('hog', 'telemetry'), big, { qos: 1 })
  await pollUntil(async () => metricSum(await text(`${apiA}/metrics`), 'fleetgate_throttled_publishes_total') > 0, 15000, 'hog throttled on A')
  const handoversB = metricSum(await text(`${apiB}/metrics`), 'fleetgate_bus_handovers_total', 'direction="received"')
  const hogClosed = new Promise<void>(resolve => hog.once('close', () => resolve()))
  const hogB = await connect(mqttB, 'hog')
  await hogClosed
  await pollUntil(async () => metricSum(await text(`${apiB}/metrics`), 'fleetgate_bus_handovers_total', 'direction="received"') > handoversB, 10000, 'the handover reaches node B')
  t.equal(metricSum(await text(`${apiB}/metrics`), 'fleetgate_throttled_publishes_total'), 0, 'nothing throttled on B yet')
  // half a fresh budget: free for a vehicle that starts on B, not for the hog
  hogB.publish(vehicleTopic('hog', 'telemetry'), JSON.stringify(Array.from({ length: RATE }, (_, i) => ({ ts: new Date(base + (2000 + i) * 1000).toISOString(), lat: 5, lon: 6, seq: 2000 + i }))), { qos: 1 })
  await pollUntil(async () => metricSum(await text(`${apiB}/metrics`), 'fleetgate_throttled_publishes_total') > 0, 10000, 'hog throttled on B').catch(() => {})
  t.equal(metricSum(await text(`${apiB}/metrics`), 'fleetgate_throttled_publishes_total'), 1, 'the hog stays throttled on B: its budget came with the takeover')
})
