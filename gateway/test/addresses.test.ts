// Where things are: the addresses the gateway logs are the ones it bound; it
// writes its MQTT address into DATA_DIR, where the simulator finds it (after
// --url, GATEWAY_MQTT_URL and MQTT_PORT); the managed QuestDB's ports come from
// config or are chosen once and kept in DATA_DIR.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { gatewayAddressFile, loadConfig } from '../../schemas/config.js'
import { boundAddresses } from '../src/gateway.js'
import { managedQuestDbPorts, questdbPortsFile, runGateway } from '../src/main.js'
import { resolveMqttUrl } from '../../simulator/src/cli.js'
import { freePorts } from '../../lib/free-ports.js'
import { quietLogger, startQuestDbForTest, tempDir, testConfig } from '../../test/helper.js'

t.test('a wildcard bind is logged as bound, not as the loopback URL clients use', async t => {
  const urls = { mqtt: 'mqtt://127.0.0.1:1883', ws: 'ws://127.0.0.1:8083/mqtt' }
  t.same(boundAddresses(urls, '0.0.0.0'), { mqtt: 'mqtt://0.0.0.0:1883', ws: 'ws://0.0.0.0:8083/mqtt' })
  t.same(boundAddresses(urls, '::'), { mqtt: 'mqtt://[::]:1883', ws: 'ws://[::]:8083/mqtt' })
  t.same(boundAddresses(urls, '127.0.0.1'), urls)
})

t.test('the simulator finds the gateway the way --verify finds QuestDB', async t => {
  const db = await startQuestDbForTest(t)
  const dataDir = tempDir(t)
  const gw = await runGateway(testConfig(dataDir, db, { API_AUTH: 'required' }), quietLogger())
  let closed = false
  t.teardown(async () => { if (!closed) await gw.close() })
  const file = gatewayAddressFile(dataDir)
  t.same(JSON.parse(readFileSync(file, 'utf8')), gw.gateway.addresses, 'the gateway writes the addresses it listens on')
  t.equal(resolveMqttUrl(undefined, dataDir, {}), gw.gateway.addresses.mqtt, 'found in DATA_DIR (MQTT_PORT=0 here)')
  t.equal(resolveMqttUrl(undefined, dataDir, { MQTT_PORT: '1999' }), 'mqtt://127.0.0.1:1999', 'MQTT_PORT before the file')
  t.equal(resolveMqttUrl(undefined, dataDir, { MQTT_PORT: '1999', GATEWAY_MQTT_URL: 'mqtts://gw.example:8883' }), 'mqtts://gw.example:8883')
  t.equal(resolveMqttUrl('ws://h:1/mqtt', dataDir, { MQTT_PORT: '1999' }), 'ws://h:1/mqtt', '--url first')
  await gw.close()
  closed = true
  t.notOk(existsSync(file), 'removed when the gateway stops')
  t.equal(resolveMqttUrl(undefined, dataDir, {}), 'mqtt://127.0.0.1:1883', 'else the default port')
})

t.test('the managed QuestDB ports: from config, else chosen once and kept; a taken one is a clear error', async t => {
  const dataDir = tempDir(t)
  const [http, pg] = await freePorts(2) as [number, number]
  const config = loadConfig({}, { DATA_DIR: dataDir, QUESTDB_MANAGED_HTTP_PORT: http })
  const first = await managedQuestDbPorts(config)
  t.equal(first.http, http, 'the configured HTTP port')
  t.equal(new Set(Object.values(first)).size, 4, 'four distinct ports')
  t.same(JSON.parse(readFileSync(questdbPortsFile(config), 'utf8')), first, 'kept in DATA_DIR')
  t.same(await managedQuestDbPorts(config), first, 'the same at the next start')
  const moved = await managedQuestDbPorts(loadConfig({}, { DATA_DIR: dataDir, QUESTDB_MANAGED_HTTP_PORT: http, QUESTDB_MANAGED_PG_PORT: pg }))
  t.same(moved, { ...first, pg }, 'a configured port replaces the kept one')

  const squatter = createServer()
  await new Promise<void>(resolve => squatter.listen(pg, '127.0.0.1', resolve))
  t.teardown(() => squatter.close())
  await t.rejects(managedQuestDbPorts(config), /the managed QuestDB's pg port 127\.0\.0\.1:\d+ is in use\. Its ports are kept in .*ports\.json/)
})
