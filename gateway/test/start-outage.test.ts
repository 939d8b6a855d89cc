// A gateway started while QuestDB is unreachable (after a crash, an upgrade or
// a reboot during an outage): the broker listens and spools at once, /readyz
// says what is degraded, shutdown does not wait for a QuestDB that is not
// there, and once QuestDB answers the tables are made (with their DEDUP keys)
// and the spool drains.
import t from 'tap'
import { join } from 'node:path'
import { freePorts } from '../../lib/free-ports.js'
import { startQuestDb } from '../../lib/questdb/managed.js'
import { runGateway } from '../src/main.js'
import { runApi } from '../../api/src/main.js'
import { createApiKey } from '../../api/src/api-keys.js'
import { connectVehicles, issueTokens, pollCount, query, quietLogger, tempDir, testConfig } from '../../test/helper.js'
import { vehicleTopic } from '../../schemas/topics.js'

t.test('start during a QuestDB outage: accept and spool, say so, drain when it is back', async t => {
  const [http, pg, ilp, httpMin] = await freePorts(4) as [number, number, number, number]
  const db = { httpUrl: `http://127.0.0.1:${http}`, pgUrl: `postgres://admin:quest@127.0.0.1:${pg}/qdb` }
  const dataDir = tempDir(t)
  // the default configuration (API keys required), a long shutdown bound
  const config = testConfig(dataDir, db, { API_AUTH: 'required', SHUTDOWN_TIMEOUT_MS: 600000 })
  const log = quietLogger()
  const ids = ['so-1', 'so-2']
  const tokens = issueTokens(dataDir, ids)
  const base = Date.now() - 3600e3
  const reading = (i: number): string => JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), seq: i, lat: 10 + i / 1000, lon: 20 })

  // 1. a first gateway: starts (it threw `fetch failed` and exited), acknowledges, stops at once
  const first = await runGateway(config, log)
  let firstClosed = false
  t.teardown(async () => { if (!firstClosed) await first.close() })
  const early = await connectVehicles(t, first.gateway.addresses.mqtt, tokens)
  for (let i = 0; i < 20; i++) await early[0]?.publishAsync(vehicleTopic('so-1', 'telemetry'), reading(i), { qos: 1 })
  // the 20 readings, and the online status the gateway records as each session starts
  t.equal(first.gateway.spool.stats().appendedRecords, 20 + ids.length, 'acknowledged into the spool')
  await Promise.all(early.map(c => c.endAsync(true)))
  // SHUTDOWN_TIMEOUT_MS is 10 minutes: without QuestDB there is nothing to drain, so close must not wait for it
  let guard: NodeJS.Timeout | undefined
  const closed = await Promise.race([first.close().then(() => true), new Promise<boolean>(resolve => { guard = setTimeout(() => resolve(false), 30000) })])
  clearTimeout(guard)
  firstClosed = true
  t.ok(closed, 'shutdown does not wait for an unreachable QuestDB')

  // 2. a second one, with the api: the spool kept what the first acknowledged
  const gw = await runGateway(config, log)
  t.teardown(() => gw.close())
  const api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
  t.teardown(() => api.close())
  const [c1, c2] = await connectVehicles(t, gw.gateway.addresses.mqtt, tokens)
  for (let i = 20; i < 40; i++) await c1?.publishAsync(vehicleTopic('so-1', 'telemetry'), reading(i), { qos: 1 })
  for (let i = 0; i < 20; i++) await c2?.publishAsync(vehicleTopic('so-2', 'telemetry'), reading(i), { qos: 1 })

  const ready = await fetch(api.url + '/readyz')
  t.equal(ready.status, 503, '/readyz: not ready')
  const body = await ready.json() as { checks: Record<string, boolean>, degraded: string[] }
  t.same(body.checks, { questdb: false, broker: true, tables: false })
  t.match(body.degraded, [/^questdb unreachable: readings are kept in the spool \(\d+ bytes unconfirmed\)$/, /^questdb tables not created yet/, /^ilp protocol 1 until questdb \/settings answers$/], 'says what is degraded')
  t.match(await gw.gateway.metrics.registry.metrics(), /^fleetgate_questdb_up 0$/m, 'fleetgate_questdb_up 0')
  const key = createApiKey(dataDir, 'read').key
  const history = await fetch(api.url + '/api/v1/vehicles', { headers: { authorization: `Bearer ${key}` } })
  t.equal(history.status, 503, 'history: 503 while QuestDB is unreachable')
  t.equal(history.headers.get('retry-after'), '5', 'with Retry-After')
  t.match(await history.json(), { code: 'API_ERR_UNAVAILABLE', detail: 'QuestDB is unreachable; retry later' })

  // 3. QuestDB comes up on the configured address
  const qdb = await startQuestDb({ root: join(tempDir(t, 'fleetgate-qdb-'), 'root'), ports: { http, pg, ilp, httpMin } })
  t.teardown(() => qdb.stop())
  t.equal(await pollCount(db.pgUrl, 'SELECT count() n FROM readings', 60, 120000), 60, 'every acknowledged reading, from both gateways, once')
  const dedup = await query<{ table_name: string, dedup: boolean }>(db.pgUrl, "SELECT table_name, dedup FROM tables() WHERE table_name IN ('readings', 'events', 'vehicle_status', 'rejections')")
  t.same(dedup.map(r => [r.table_name, r.dedup]).sort(), [['events', true], ['readings', true], ['rejections', true], ['vehicle_status', true]], 'tables made from tables.sql (with DEDUP keys), not by an ILP write')
  let after: { status: number, body: { checks: Record<string, boolean>, degraded?: string[] } } = { status: 0, body: { checks: {} } }
  const deadline = Date.now() + 60000
  while (Date.now() < deadline) {
    const r = await fetch(api.url + '/readyz')
    after = { status: r.status, body: await r.json() as typeof after.body }
    if (r.status === 200) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  t.equal(after.status, 200, '/readyz: ready')
  t.same(after.body, { status: 'ready', checks: { questdb: true, broker: true, tables: true } }, 'nothing degraded')
  t.equal((await fetch(api.url + '/api/v1/vehicles', { headers: { authorization: `Bearer ${key}` } })).status, 200, 'history answers')
  t.match(await gw.gateway.metrics.registry.metrics(), /^fleetgate_questdb_up 1$/m, 'fleetgate_questdb_up 1')
})
