// Geofence alerts end to end, API keys required: geofences made over the admin
// API reach the gateway; vehicles driven over MQTT through a polygon and a
// circle make exactly one enter and one exit each in QuestDB's `alerts` and on
// the live feed (and one overspeed where the circle has a speed limit); a redelivered publish, an out-of-order backlog, a restart
// while inside, and a replay after the state was lost make no extra alert.
import t, { type Test } from 'tap'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Config } from '../schemas/config.js'
import { vehicleTopic } from '../schemas/topics.js'
import { runGateway, type RunningGateway } from '../gateway/src/main.js'
import { runApi, type RunningApi } from '../api/src/main.js'
import { createApiKey } from '../api/src/api-keys.js'
import { geofenceStateDir } from '../gateway/src/geofences/geofence-state-file.js'
import { issueToken } from '../gateway/src/broker/device-registry.js'
import { count, pollCount, pollUntil, quietLogger, startQuestDbForTest, tempDir, testConfig, waitWalApplied } from './helper.js'
import { openLive, subscribe, wsUrl } from '../api/test/live-helper.js'

const POLYGON = { id: 'yard', name: 'Yard', labels: ['depot'], geometry: { type: 'Polygon', coordinates: [[[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]] } }
const CIRCLE = { id: 'plant', name: 'Plant', speed_limit_kmh: 20, geometry: { type: 'Point', coordinates: [10.05, 50.005], radius_m: 300 } }

interface Running { gw: RunningGateway, api: RunningApi, close: () => Promise<void> }

/** Gateway and api in one process on this config; closed at teardown unless closed before. */
async function start (t: Test, config: Config): Promise<Running> {
  const log = quietLogger()
  const gw = await runGateway(config, log)
  const api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
  let closed: Promise<void> | null = null
  const close = async (): Promise<void> => { closed ??= (async () => { await api.close(); await gw.close() })(); await closed }
  t.teardown(close)
  return { gw, api, close }
}

async function http (r: Running, key: string, path: string, method = 'GET', body?: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(r.api.url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

async function vehicle (t: Test, r: Running, config: Config, id: string, token: string): Promise<(readings: object | object[]) => Promise<void>> {
  const c: MqttClient = await mqtt.connectAsync(r.gw.gateway.addresses.mqtt, { clientId: id, username: id, password: token, protocolVersion: 4, reconnectPeriod: 0 })
  t.teardown(() => c.endAsync(true).catch(() => {}))
  return async readings => { await c.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify(readings), { qos: 1 }) }
}

/** The gateway's own store has both geofences (it follows the file the api wrote). */
async function gatewayHas (r: Running, n: number): Promise<void> {
  await pollUntil(async () => r.gw.gateway.geofencing.store.index().size === n, 5000, `the gateway to follow ${n} geofences`)
}

const T0 = Date.now() - 3600_000
const at = (s: number, lon: number, lat = 50.005): object => ({ ts: T0 + s * 1000, lat, lon, speed_kmh: 30 })

async function alertsOf (pgUrl: string, id: string): Promise<Array<{ type: string, geofence_id: string, ts_ms: number }>> {
  const pg = await import('pg')
  const client = new pg.default.Client({ connectionString: pgUrl })
  await client.connect()
  try {
    const { rows } = await client.query('SELECT type, geofence_id, cast(ts AS long) / 1000 ts_ms FROM alerts WHERE vehicle_id = $1 ORDER BY ts, geofence_id, type', [id])
    return rows.map(r => ({ type: r.type, geofence_id: r.geofence_id, ts_ms: Number(r.ts_ms) }))
  } finally {
    await client.end()
  }
}

t.test('geofence alerts at ingest', async t => {
  const db = await startQuestDbForTest(t)
  const config = testConfig(tempDir(t), db, { API_AUTH: 'required', API_RATE_LIMIT: 0, GEOFENCE_DWELL_S: 0 })
  const admin = createApiKey(config.DATA_DIR, 'admin').key
  const read = createApiKey(config.DATA_DIR, 'read').key
  const tokens = Object.fromEntries(['v1', 'v2', 'v3'].map(id => [id, issueToken(config.DATA_DIR, id)]))
  let r = await start(t, config)
  t.equal((await http(r, admin, '/api/v1/geofences', 'POST', POLYGON)).status, 201)
  t.equal((await http(r, admin, '/api/v1/geofences', 'POST', CIRCLE)).status, 201)
  await gatewayHas(r, 2)

  t.test('through a polygon and a circle: one enter and one exit each (and one overspeed in the circle), also on the live feed', async t => {
    const live = await openLive(t, wsUrl(r.api.url, `?token=${read}`))
    await subscribe(live, { vehicles: ['v1'] })
    const send = await vehicle(t, r, config, 'v1', tokens.v1 as string)
    const path = [at(0, 9.99), at(10, 10.005), at(20, 10.006), at(30, 10.03), at(40, 10.05), at(50, 10.051), at(60, 10.08)]
    for (const p of path) await send(p)
    // a redelivered publish: the same reading again
    await send(path[1] as object)
    t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM alerts WHERE vehicle_id = 'v1'", 5), 5)
    t.same(await alertsOf(db.pgUrl, 'v1'), [
      { type: 'geofence_enter', geofence_id: 'yard', ts_ms: T0 + 10000 },
      { type: 'geofence_exit', geofence_id: 'yard', ts_ms: T0 + 30000 },
      { type: 'geofence_enter', geofence_id: 'plant', ts_ms: T0 + 40000 },
      // 30 km/h in its 20 km/h limit: once for the stretch, not again at the next reading
      { type: 'overspeed', geofence_id: 'plant', ts_ms: T0 + 40000 },
      { type: 'geofence_exit', geofence_id: 'plant', ts_ms: T0 + 60000 }
    ])
    const m = await live.next(x => x.type === 'alert' && (x as { alert?: { type: string, geofence_id: string } }).alert?.geofence_id === 'plant' && (x as { alert?: { type: string } }).alert?.type === 'geofence_exit', 'the plant exit on the live feed') as unknown as { alert: Record<string, unknown> }
    t.match(m.alert, { vehicle_id: 'v1', geofence_name: 'Plant', id: `v1.plant.geofence_exit.${(T0 + 60000) * 1000}` })
    t.equal(live.messages.filter(x => x.type === 'alert').length, 5, 'five alerts on the feed, none for the redelivery')

    const listed = await http(r, read, '/api/v1/alerts?vehicle_id=v1&limit=3')
    t.equal(listed.status, 200)
    t.same(listed.body.alerts.map((a: { type: string, geofence_id: string }) => `${a.geofence_id}:${a.type}`), ['plant:geofence_exit', 'plant:geofence_enter', 'plant:overspeed'], 'newest first; one instant in vehicle, geofence, type order')
    const rest = await http(r, read, `/api/v1/alerts?vehicle_id=v1&limit=3&before=${encodeURIComponent(listed.body.next_before)}`)
    t.same(rest.body.alerts.map((a: { type: string, geofence_id: string }) => `${a.geofence_id}:${a.type}`), ['yard:geofence_exit', 'yard:geofence_enter'])
    t.equal(rest.body.next_before, null)
    t.equal((await http(r, read, '/api/v1/alerts?geofence_id=plant&type=geofence_enter')).body.alerts.length, 1)
  })

  t.test('an out-of-order backlog makes no false enter/exit pair', async t => {
    const send = await vehicle(t, r, config, 'v2', tokens.v2 as string)
    await send(at(100, 10.005))
    // the backlog of an offline stretch, older than the reading above: outside, then inside
    await send([at(50, 9.99), at(60, 9.98), at(70, 9.97), at(80, 10.005)])
    await send(at(110, 10.006))
    await send(at(120, 9.99))
    t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM alerts WHERE vehicle_id = 'v2'", 2), 2)
    t.same((await alertsOf(db.pgUrl, 'v2')).map(a => `${a.type}@${a.ts_ms - T0}`), ['geofence_enter@100000', 'geofence_exit@120000'])
    t.equal(await count(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'v2'"), 7, 'the late readings are stored all the same')
    const late = (await r.gw.gateway.metrics.registry.getSingleMetric('fleetgate_geofence_late_readings_total')?.get())?.values[0]?.value ?? 0
    t.ok(late >= 4, `the backlog counted as late (${late})`)
  })

  t.test('a restart while inside keeps the state; a replay after the state was lost makes no second alert', async t => {
    let send = await vehicle(t, r, config, 'v3', tokens.v3 as string)
    const path = [at(200, 9.99), at(210, 10.005), at(220, 10.006), at(230, 9.99)]
    await send(path[0] as object)
    await send(path[1] as object)
    t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM alerts WHERE vehicle_id = 'v3'", 1), 1)
    await r.close()
    r = await start(t, config)
    await gatewayHas(r, 2)
    send = await vehicle(t, r, config, 'v3', tokens.v3 as string)
    await send(path[2] as object)
    await send(path[3] as object)
    t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM alerts WHERE vehicle_id = 'v3'", 2), 2)
    t.same((await alertsOf(db.pgUrl, 'v3')).map(a => a.type), ['geofence_enter', 'geofence_exit'], 'no second enter after the restart')

    // lose the state: the whole path again raises the same alerts, which the DEDUP keys fold
    await r.close()
    const dir = geofenceStateDir(config.DATA_DIR)
    const files = readdirSync(dir).filter(n => n.startsWith('state-'))
    t.ok(files.length > 0, 'a state file was written')
    for (const f of files) rmSync(join(dir, f))
    r = await start(t, config)
    await gatewayHas(r, 2)
    send = await vehicle(t, r, config, 'v3', tokens.v3 as string)
    for (const p of path) await send(p)
    const raised = (await r.gw.gateway.metrics.registry.getSingleMetric('fleetgate_alerts_total')?.get())?.values.reduce((n, v) => n + v.value, 0)
    t.equal(raised, 2, 'the evaluator did raise the pair again')
    // all of it in QuestDB and applied: a second pair would show now
    const spool = r.gw.gateway.spool
    await pollUntil(async () => spool.stats().unconfirmedBytes === 0, 60000, 'the spool to drain')
    await waitWalApplied(db.pgUrl, 60000)
    t.equal(await count(db.pgUrl, "SELECT count() n FROM alerts WHERE vehicle_id = 'v3'"), 2, 'still one enter and one exit')
  })
})
