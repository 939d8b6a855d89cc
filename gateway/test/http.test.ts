// The gateway's small HTTP port (gateway alone): /metrics, /healthz, /readyz.
import t from 'tap'
import { startQuestDbForTest, tempDir, testConfig, quietLogger } from '../../test/helper.js'
import { runGateway } from '../src/main.js'
import { startGatewayHttp } from '../src/http.js'
import { httpTimeouts } from '../../api/src/main.js'

t.test('metrics, health and readiness of a gateway running alone', async t => {
  const db = await startQuestDbForTest(t)
  const config = testConfig(tempDir(t), db, { GATEWAY_HTTP_PORT: 0 })
  const log = quietLogger()
  const gw = await runGateway(config, log)
  t.teardown(() => gw.close())
  let closed = false
  const http = await startGatewayHttp({ host: '127.0.0.1', port: config.GATEWAY_HTTP_PORT, registry: gw.gateway.metrics.registry, questdb: gw.questdb, brokerReady: () => !closed, readiness: gw.gateway.readiness, log, timeouts: httpTimeouts(config) })
  t.teardown(() => http.close())
  t.match(http.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.same([http.server.headersTimeout, http.server.requestTimeout, http.server.keepAliveTimeout], [config.HTTP_HEADERS_TIMEOUT_MS, config.HTTP_REQUEST_TIMEOUT_MS, config.HTTP_KEEP_ALIVE_TIMEOUT_MS], 'the configured HTTP timeouts')

  const metrics = await fetch(http.url + '/metrics')
  t.equal(metrics.status, 200)
  const text = await metrics.text()
  t.match(text, /fleetgate_mqtt_connected_clients/)
  t.match(text, /fleetgate_ilp_flush_seconds/)
  t.match(text, /fleetgate_spool_write_seconds_bucket/, 'the spool group write duration')
  t.match(text, /fleetgate_gateway_process_cpu_seconds_total/, 'process metrics')
  t.equal((await fetch(http.url + '/healthz')).status, 200)
  const ready = await fetch(http.url + '/readyz')
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', checks: { questdb: true, broker: true, tables: true } }, 'the tables exist when the gateway is up')
  closed = true
  t.equal((await fetch(http.url + '/readyz')).status, 503)
  t.equal((await fetch(http.url + '/nowhere')).status, 404)
})
