// Device tokens and API keys across machines through the Redis registry
// stream: two gateway nodes and an api node, each with its own DATA_DIR (as on
// separate machines), one Redis, one QuestDB. A token issued on machine 1
// works on gateway 2, a revoke on machine 1 closes the session on gateway 2,
// and a revoke made while Redis is down arrives when it returns; an API key
// made and revoked on machine 1 is accepted, then refused, by the api of
// machine 2; a geofence made on machine 1 reaches gateway 2 and api 2.
import t from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { freePorts } from '../../../lib/free-ports.js'
import { startQuestDbForTest, pollUntil, tempDir } from '../../../test/helper.js'
import { startGatewayProcess, waitConnectable, exited } from '../../../test/gateway-process-helper.js'
import { startRedisForTest } from '../../../test/redis-helper.js'
import { createApiKey, revokeApiKey } from '../../../api/src/api-keys.js'
import { issueToken, revokeToken } from '../../src/broker/device-registry.js'
import { putGeofence } from '../../src/geofences/geofence-store.js'

async function metric (url: string, name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(await (await fetch(url)).text())
  return m ? Number(m[1]) : NaN
}

t.test('a token issued or revoked on one machine applies on the others', async t => {
  const [db, redis] = await Promise.all([startQuestDbForTest(t), startRedisForTest(t)])
  const dir1 = tempDir(t)
  const dir2 = tempDir(t)
  const [mq1, mq2, gh1, gh2, http2] = await freePorts(5)
  // made on machine 1 only, before its gateway starts
  const tokens = new Map(['v-a', 'v-b', 'probe'].map(id => [id, issueToken(dir1, id)]))
  const common = { MQTT_HOST: '127.0.0.1', MQTT_WS_PORT: '-1', HTTP_HOST: '127.0.0.1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, REDIS_URL: redis.url, ILP_FLUSH_INTERVAL_MS: '20' }
  const procs = [
    startGatewayProcess({ ...common, DATA_DIR: dir1, NODE_ID: 'gw1', MQTT_PORT: String(mq1), GATEWAY_HTTP_PORT: String(gh1) }),
    startGatewayProcess({ ...common, DATA_DIR: dir2, NODE_ID: 'gw2', MQTT_PORT: String(mq2), GATEWAY_HTTP_PORT: String(gh2) }),
    startGatewayProcess({ ...common, DATA_DIR: dir2, NODE_ID: 'api2', HTTP_PORT: String(http2) }, 'api')
  ]
  t.teardown(async () => { await Promise.all(procs.map(async p => { p.kill('SIGTERM'); await exited(p) })) })
  const mqtt2 = `mqtt://127.0.0.1:${mq2}`
  await waitConnectable(`mqtt://127.0.0.1:${mq1}`, tokens.get('probe') as string, 'probe')
  // gateway 2 knows these tokens only from the stream
  await waitConnectable(mqtt2, tokens.get('probe') as string, 'probe')
  t.pass('a token issued on machine 1 is accepted by gateway 2')

  const connect = async (id: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(mqtt2, { clientId: id, username: id, password: tokens.get(id), reconnectPeriod: 0, protocolVersion: 4 })
    c.on('error', () => {})
    t.teardown(() => { c.end(true) })
    return c
  }
  const a = await connect('v-a')
  const b = await connect('v-b')

  // `fleetgate revoke` on machine 1: the session on gateway 2 closes
  const t0 = Date.now()
  const aClosed = new Promise<void>(resolve => a.once('close', () => resolve()))
  revokeToken(dir1, 'v-a')
  await aClosed
  const ms = Date.now() - t0
  t.ok(ms < 1500, `revoked on machine 1, the session on gateway 2 was closed after ${ms} ms`)
  await t.rejects(mqtt.connectAsync(mqtt2, { clientId: 'v-a', username: 'v-a', password: tokens.get('v-a'), reconnectPeriod: 0, protocolVersion: 4 }), 'and its token is refused there')

  // a revoke while Redis is down: kept in the file, queued, sent when it returns
  await redis.stop()
  await pollUntil(async () => (await metric(`http://127.0.0.1:${gh1}/metrics`, 'fleetgate_bus_up')) === 0, 10000, 'gateway 1 sees the bus down')
  revokeToken(dir1, 'v-b')
  await pollUntil(async () => (await metric(`http://127.0.0.1:${gh1}/metrics`, 'fleetgate_bus_registry_queued')) === 1, 10000, 'the revoke queued on gateway 1')
  t.pass('gateway 1 queues the revoke while Redis is down')
  t.ok(b.connected, 'v-b is still connected to gateway 2 meanwhile')
  const bClosed = new Promise<void>(resolve => b.once('close', () => resolve()))
  await redis.start()
  await bClosed
  t.pass('the revoke reached gateway 2 when Redis returned, and closed the session')
  t.equal(await metric(`http://127.0.0.1:${gh1}/metrics`, 'fleetgate_bus_registry_queued'), 0, 'nothing left queued')

  // API keys: made on machine 1, used on the api of machine 2, revoked on machine 1
  const api2 = `http://127.0.0.1:${http2}`
  await pollUntil(async () => (await fetch(`${api2}/readyz`).catch(() => null))?.status === 200, 60000, 'api 2 ready')
  const { key, id } = createApiKey(dir1, 'read')
  const get = async (): Promise<number> => (await fetch(`${api2}/api/v1/vehicles`, { headers: { authorization: `Bearer ${key}` } })).status
  await pollUntil(async () => await get() === 200, 5000, 'the key works on api 2').catch(() => {})
  t.equal(await get(), 200, 'a key made on machine 1 is accepted by the api of machine 2')

  // a geofence made on machine 1: in the index of gateway 2 and served by api 2
  putGeofence(dir1, 'zone-1', { name: 'Zone 1', geometry: { type: 'Point', coordinates: [13.4, 52.5], radius_m: 200 } })
  await pollUntil(async () => (await metric(`http://127.0.0.1:${gh2}/metrics`, 'fleetgate_geofences')) === 1, 5000, 'gateway 2 has the geofence').catch(() => {})
  t.equal(await metric(`http://127.0.0.1:${gh2}/metrics`, 'fleetgate_geofences'), 1, 'a geofence made on machine 1 is evaluated by gateway 2')
  const zone = async (): Promise<number> => (await fetch(`${api2}/api/v1/geofences/zone-1`, { headers: { authorization: `Bearer ${key}` } })).status
  await pollUntil(async () => await zone() === 200, 5000, 'api 2 serves the geofence').catch(() => {})
  t.equal(await zone(), 200, 'and served by the api of machine 2')
  revokeApiKey(dir1, id)
  await pollUntil(async () => await get() === 401, 5000, 'the key refused on api 2').catch(() => {})
  t.equal(await get(), 401, 'revoked on machine 1, it is refused by the api of machine 2')
})
