// The managed QuestDB is supervised: its JVM killed (by pid), it is started
// again with backoff on the same ports, logged and counted; meanwhile every
// read answers 503 API_ERR_UNAVAILABLE with Retry-After and the gateway keeps
// acknowledging into its spool. The ports are kept in DATA_DIR, so a restarted
// gateway brings QuestDB back on them and the simulator's --verify, started
// while the gateway is down, finishes with every reading found.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { loadConfig, type Config } from '../schemas/config.js'
import { vehicleTopic } from '../schemas/topics.js'
import { runGateway, questdbPortsFile, type RunningGateway } from '../gateway/src/index.js'
import { runApi, type RunningApi } from '../api/src/main.js'
import { createApiKey } from '../api/src/api-keys.js'
import { simulate, vehicleIds } from '../simulator/src/simulate.js'
import { obtainTokens } from '../simulator/src/tokens.js'
import { resolvePgUrl, verify } from '../simulator/src/verify.js'
import { freePort } from '../lib/free-ports.js'
import { connectVehicles, issueTokens, pollCount, pollUntil, quietLogger, tempDir } from './helper.js'

const READS = ['/api/v1/vehicles', '/api/v1/vehicles/sup-1', '/api/v1/vehicles/sup-1/readings', '/api/v1/vehicles/sup-1/track', '/api/v1/vehicles/sup-1/events', '/api/v1/positions?bbox=-180,-90,180,90', '/api/v1/stats', '/api/v1/rejections']

function managedConfig (dataDir: string, mqttPort: number): Config {
  // the default configuration (API keys required, a managed QuestDB), on loopback
  return loadConfig({}, { MQTT_HOST: '127.0.0.1', MQTT_PORT: mqttPort, MQTT_WS_PORT: -1, HTTP_HOST: '127.0.0.1', HTTP_PORT: 0, GATEWAY_HTTP_PORT: -1, DATA_DIR: dataDir, LOG_LEVEL: 'silent', ILP_FLUSH_INTERVAL_MS: 20 })
}

interface Running { gw: RunningGateway, api: RunningApi, close: () => Promise<void> }

async function start (config: Config): Promise<Running> {
  const log = quietLogger()
  const gw = await runGateway(config, log)
  const api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
  let closed = false
  return { gw, api, close: async () => { if (closed) return; closed = true; await api.close(); await gw.close() } }
}

t.test('a killed managed QuestDB comes back on the same ports; reads answer 503 meanwhile', async t => {
  const dataDir = tempDir(t)
  const config = managedConfig(dataDir, await freePort())
  const first = await start(config)
  t.teardown(first.close)
  const { gw, api } = first
  const managed = gw.managed
  if (!managed) throw new Error('expected a managed QuestDB')
  const key = createApiKey(dataDir, 'read').key
  const get = async (path: string): Promise<Response> => await fetch(api.url + path, { headers: { authorization: `Bearer ${key}` } })
  const ports = readFileSync(questdbPortsFile(config), 'utf8')
  t.same(JSON.parse(ports), managed.ports, 'the ports are kept in DATA_DIR')

  const tokens = issueTokens(dataDir, ['sup-1'])
  const [vehicle] = await connectVehicles(t, gw.gateway.addresses.mqtt, tokens)
  const base = Date.now() - 600e3
  const reading = (i: number): string => JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), lat: 1, lon: 2 + i / 1000 })
  for (let i = 0; i < 10; i++) await vehicle?.publishAsync(vehicleTopic('sup-1', 'telemetry'), reading(i), { qos: 1 })
  t.equal(await pollCount(gw.questdb.pgUrl, 'SELECT count() n FROM readings', 10), 10)
  for (const path of READS) t.equal((await get(path)).status, 200, `${path} answers`)

  const pid = managed.pid()
  process.kill(pid, 'SIGKILL')
  await pollUntil(async () => !managed.up(), 30000, 'the supervisor to see the exit')
  t.match(await (await fetch(api.url + '/metrics')).text(), /^fleetgate_questdb_up 0$/m, 'QuestDB down in the metrics')
  // while it is down: every read 503 with Retry-After, /readyz says why, the spool acknowledges
  for (const path of READS) {
    const r = await get(path)
    t.equal(r.status, 503, `${path}: 503 while QuestDB is down`)
    t.equal(r.headers.get('retry-after'), '5', `${path}: Retry-After`)
    t.match(await r.json(), { code: 'API_ERR_UNAVAILABLE', status: 503 })
  }
  const ready = await fetch(api.url + '/readyz')
  t.equal(ready.status, 503)
  t.match(await ready.json(), { checks: { questdb: false }, degraded: ['managed questdb exited: restarting with backoff'] })
  for (let i = 10; i < 20; i++) await vehicle?.publishAsync(vehicleTopic('sup-1', 'telemetry'), reading(i), { qos: 1 })

  await pollUntil(async () => managed.up(), 120000, 'the restart')
  t.not(managed.pid(), pid, 'a new JVM')
  t.equal(managed.restarts(), 1)
  t.equal(readFileSync(questdbPortsFile(config), 'utf8'), ports, 'on the same ports')
  t.equal(gw.questdb.pgUrl, managed.pgUrl)
  t.match(await (await fetch(api.url + '/metrics')).text(), /^fleetgate_questdb_restarts_total\{outcome="ok"\} 1$/m, 'the restart is counted')
  t.equal(await pollCount(gw.questdb.pgUrl, 'SELECT count() n FROM readings', 20, 120000), 20, 'what was acknowledged meanwhile arrives')
  t.match(await (await fetch(api.url + '/metrics')).text(), /^fleetgate_questdb_up 1$/m, 'and QuestDB counts as up again')
  for (const path of READS) t.equal((await get(path)).status, 200, `${path} answers again`)

  // a simulated fleet, then the whole gateway restarts while --verify runs
  const ids = vehicleIds(5, 'vsim-')
  const report = await simulate({ url: gw.gateway.addresses.mqtt, vehicles: 5, hz: 5, durationS: 2, seed: 7, prefix: 'vsim-', tokens: obtainTokens(dataDir, ids) }, { signal: new AbortController().signal })
  t.ok(report.acked > 0 && report.unacked === 0, `${report.acked} readings acknowledged`)
  await first.close()
  t.equal(resolvePgUrl(undefined, dataDir), null, 'no QuestDB address while the gateway is down')
  const verifying = verify(report.ledger, () => resolvePgUrl(undefined, dataDir), { timeoutMs: 180000 })
  const second = await start(config)
  t.teardown(second.close)
  t.equal(second.gw.questdb.pgUrl, gw.questdb.pgUrl, 'the restarted gateway brings QuestDB back on the same ports')
  const v = await verifying
  t.ok(v.ok, '--verify survived the restart')
  t.equal(v.found, report.acked, 'every acknowledged reading found')
  t.equal(v.missing, 0)
})
