// Scale-out on Redis as users run it (API keys required): two `fleetgate
// gateway` nodes and two `fleetgate api` nodes, one Redis, one QuestDB, the
// nodes sharing DATA_DIR (device tokens, API keys) with a spool each. A live
// client on api 1 sees vehicles of both gateways; a vehicle that reconnects
// to the other gateway ends with one session, online, nothing lost or
// duplicated; Redis stopped under QoS 1 load: the api says the bus is down,
// the gateways count what they drop, nothing acknowledged is missing, and the
// live feed recovers when Redis returns.
import t from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { join } from 'node:path'
import { freePorts } from '../lib/free-ports.js'
import { startQuestDbForTest, issueTokens, pollCount, pollUntil, duplicateReadings, tempDir, query, count } from './helper.js'
import { startGatewayProcess, waitConnectable, exited } from './gateway-process-helper.js'
import { startRedisForTest } from './redis-helper.js'
import { openLive, wsUrl } from '../api/test/live-helper.js'
import { createApiKey } from '../api/src/api-keys.js'
import { vehicleTopic } from '../schemas/topics.js'
import { metricSum, text } from './metrics-helper.js'

t.test('two gateway nodes and two api nodes on one Redis', async t => {
  const [db, redis] = await Promise.all([startQuestDbForTest(t), startRedisForTest(t)])
  const dataDir = tempDir(t)
  const [mq1, mq2, gh1, gh2, http1, http2] = await freePorts(6)
  const onGw1 = Array.from({ length: 5 }, (_, i) => `n1-${i}`)
  const onGw2 = Array.from({ length: 5 }, (_, i) => `n2-${i}`)
  const tokens = issueTokens(dataDir, [...onGw1, ...onGw2, 'mover', 'probe'])
  const { key } = createApiKey(dataDir, 'read')
  const mqtt1 = `mqtt://127.0.0.1:${mq1}`
  const mqtt2 = `mqtt://127.0.0.1:${mq2}`
  const common = { DATA_DIR: dataDir, MQTT_HOST: '127.0.0.1', MQTT_WS_PORT: '-1', HTTP_HOST: '127.0.0.1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, REDIS_URL: redis.url, ILP_FLUSH_INTERVAL_MS: '20' }
  const procs = [
    startGatewayProcess({ ...common, NODE_ID: 'gw1', MQTT_PORT: String(mq1), GATEWAY_HTTP_PORT: String(gh1), SPOOL_DIR: join(dataDir, 'spool-gw1') }),
    startGatewayProcess({ ...common, NODE_ID: 'gw2', MQTT_PORT: String(mq2), GATEWAY_HTTP_PORT: String(gh2), SPOOL_DIR: join(dataDir, 'spool-gw2') }),
    startGatewayProcess({ ...common, NODE_ID: 'api1', HTTP_PORT: String(http1) }, 'api'),
    startGatewayProcess({ ...common, NODE_ID: 'api2', HTTP_PORT: String(http2) }, 'api')
  ]
  t.teardown(async () => { await Promise.all(procs.map(async p => { p.kill('SIGTERM'); await exited(p) })) })
  const api1 = `http://127.0.0.1:${http1}`
  const api2 = `http://127.0.0.1:${http2}`
  const gwHttp1 = `http://127.0.0.1:${gh1}`
  const gwHttp2 = `http://127.0.0.1:${gh2}`
  await Promise.all([waitConnectable(mqtt1, tokens.get('probe') as string, 'probe'), waitConnectable(mqtt2, tokens.get('probe') as string, 'probe')])
  for (const url of [api1, api2]) await pollUntil(async () => (await fetch(`${url}/readyz`).catch(() => null))?.status === 200, 60000, `${url} ready`)

  // each node names itself in its metrics
  t.match(await text(`${gwHttp1}/metrics`), /fleetgate_bus_up\{node="gw1"\} 1/, 'gateway 1: on the bus, labelled node="gw1"')
  t.match(await text(`${gwHttp2}/metrics`), /fleetgate_bus_up\{node="gw2"\} 1/, 'gateway 2: on the bus, labelled node="gw2"')

  const lives = await Promise.all([api1, api2].map(async url => {
    const live = await openLive(t, wsUrl(url), { headers: { authorization: `Bearer ${key}` } })
    live.send({ type: 'subscribe', vehicles: '*' })
    await live.next(m => m.type === 'snapshot', 'snapshot')
    return live
  }))
  const live1 = lives[0] as NonNullable<typeof lives[0]>

  const connect = async (url: string, id: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(url, { clientId: id, username: id, password: tokens.get(id), reconnectPeriod: 0, protocolVersion: 4 })
    c.on('error', () => {})
    return c
  }
  const clients = new Map<string, MqttClient>()
  for (const id of onGw1) clients.set(id, await connect(mqtt1, id))
  for (const id of onGw2) clients.set(id, await connect(mqtt2, id))
  t.teardown(() => { for (const c of clients.values()) c.end(true) })

  // QoS 1 from every vehicle, each PUBACK counted
  const ids = [...onGw1, ...onGw2]
  const acked = new Map<string, number>()
  let stop = false
  const base = Date.now() - 3600e3
  const streams = ids.map(async (id, v) => {
    for (let i = 0; !stop; i++) {
      await (clients.get(id) as MqttClient).publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), lat: 1 + v / 100, lon: 2, seq: i }), { qos: 1 })
      acked.set(id, i + 1)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  })
  const seen = (live: typeof live1, id: string, after = 0): boolean => live.positions.some(p => p.vehicle_id === id && (p.seq ?? 0) >= after)
  await pollUntil(async () => lives.every(l => ids.every(id => seen(l, id))), 15000, 'positions of every vehicle on both apis').catch(() => {})
  t.same(ids.filter(id => !seen(live1, id)), [], 'a map on api 1 receives positions from vehicles on both gateways')
  t.same(ids.filter(id => !seen(lives[1] as typeof live1, id)), [], 'and so does one on api 2')

  // a vehicle on gateway 1 reconnects to gateway 2 (its old connection still open)
  const first = await connect(mqtt1, 'mover')
  for (let i = 0; i < 5; i++) await first.publishAsync(vehicleTopic('mover', 'telemetry'), JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), lat: 3, lon: 4, seq: i }), { qos: 1 })
  const firstClosed = new Promise<void>(resolve => first.once('close', () => resolve()))
  const second = await connect(mqtt2, 'mover')
  t.teardown(() => { first.end(true); second.end(true) })
  await firstClosed
  t.pass('gateway 1 closed the session that gateway 2 took over')
  for (let i = 5; i < 10; i++) await second.publishAsync(vehicleTopic('mover', 'telemetry'), JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), lat: 3, lon: 4, seq: i }), { qos: 1 })
  await pollUntil(async () => metricSum(await text(`${gwHttp1}/metrics`), 'fleetgate_mqtt_connected_clients') === onGw1.length, 5000, 'gateway 1 sessions').catch(() => {})
  t.equal(metricSum(await text(`${gwHttp1}/metrics`), 'fleetgate_mqtt_connected_clients'), onGw1.length, 'gateway 1 holds no session of mover')
  t.ok(second.connected, 'the session on gateway 2 stays')
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'mover'", 10), 10, 'mover: its 10 readings, none lost, none twice')
  const moverStatus = await query<{ online: boolean }>(db.pgUrl, "SELECT online FROM vehicle_status WHERE vehicle_id = 'mover' ORDER BY ts")
  t.ok(moverStatus.length > 0 && moverStatus.every(s => s.online), `mover: online, no offline from the takeover (${moverStatus.map(s => s.online).join(', ')})`)
  const apiStatus = await (await fetch(`${api1}/api/v1/vehicles/mover`, { headers: { authorization: `Bearer ${key}` } })).json() as { status: string | null, online: boolean }
  t.same({ status: apiStatus.status, online: apiStatus.online }, { status: 'online', online: true }, 'api 1 says mover is online')

  // Redis stopped under QoS 1 load: ingestion goes on, the bus is reported down
  await redis.stop()
  await pollUntil(async () => {
    const r = await (await fetch(`${api1}/readyz`)).json() as { degraded?: string[] }
    return r.degraded?.some(l => l.startsWith('redis bus down')) === true
  }, 10000, 'api 1 reports the bus down')
  t.pass('api 1 /readyz says the bus is down')
  const apiReady = await fetch(`${api1}/readyz`)
  t.equal(apiReady.status, 200, 'and stays ready: history is served without the bus')
  const gwReady = await (await fetch(`${gwHttp1}/readyz`)).json() as { degraded?: string[] }
  t.ok(gwReady.degraded?.some(l => l.startsWith('redis bus down')), 'gateway 1 /readyz says so too')
  const ackedAtStop = ids.reduce((a, id) => a + (acked.get(id) ?? 0), 0)
  await pollUntil(async () => ids.reduce((a, id) => a + (acked.get(id) ?? 0), 0) > ackedAtStop + 100, 15000, 'acknowledgements go on without Redis')
  t.pass('QoS 1 publishes are acknowledged while Redis is down')
  t.ok(metricSum(await text(`${gwHttp1}/metrics`), 'fleetgate_bus_dropped_total', 'kind="live"') > 0, 'gateway 1 counts the live batches it dropped')
  await new Promise(resolve => setTimeout(resolve, 10000))
  await redis.start()
  const seqNow = Math.max(...ids.map(id => acked.get(id) ?? 0))
  await pollUntil(async () => ids.every(id => seen(live1, id, seqNow)), 20000, 'the live feed recovers').catch(() => {})
  t.same(ids.filter(id => !seen(live1, id, seqNow)), [], 'after Redis returns, api 1 receives every vehicle again')
  t.notOk(((await (await fetch(`${api1}/readyz`)).json()) as { degraded?: string[] }).degraded?.some(l => l.startsWith('redis bus down')), 'api 1 no longer reports the bus down')

  stop = true
  await Promise.all(streams)
  const total = ids.reduce((a, id) => a + (acked.get(id) ?? 0), 0)
  const stored = await pollCount(db.pgUrl, `SELECT count() n FROM (SELECT DISTINCT vehicle_id, seq FROM readings WHERE vehicle_id IN (${ids.map(i => `'${i}'`).join(',')}))`, total)
  t.ok(stored >= total, `every acknowledged reading is stored (${stored} of ${total})`)
  t.equal(await duplicateReadings(db.pgUrl), 0, 'none twice')
  t.equal(await count(db.pgUrl, "SELECT count() n FROM vehicle_status WHERE vehicle_id = 'mover' AND NOT online"), 0, 'mover never recorded offline')
})
