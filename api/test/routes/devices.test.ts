// The device registry over the admin API, on a real stack with API keys and
// rate limits as users get them: tokens issued here connect over MQTT,
// revocation closes the session, a fleet of 10,000 is provisioned in one request.
import t from 'tap'
import mqtt from 'mqtt'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../../../schemas/config.js'
import { openDeviceRegistry, registryPath } from '../../../gateway/src/index.js'
import { pollUntil, startQuestDbForTest } from '../../../test/helper.js'
import { call, conforms, startApiStack, type ApiStack } from '../fixture.js'

const defaults = { API_RATE_LIMIT: loadConfig({}).API_RATE_LIMIT }

async function connect (s: ApiStack, id: string, token: string): Promise<mqtt.MqttClient | Error> {
  try {
    return await mqtt.connectAsync(s.mqttUrl, { clientId: id, username: id, password: token, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 })
  } catch (err) {
    return err as Error
  }
}

async function csv (s: ApiStack, path: string, body: string): Promise<{ status: number, body: any }> {
  const res = await fetch(s.httpUrl + path, { method: 'POST', headers: { authorization: `Bearer ${s.keys.admin}`, 'content-type': 'text/csv' }, body })
  return { status: res.status, body: await res.json() }
}

t.test('devices over the admin API', async t => {
  const db = await startQuestDbForTest(t)
  const s = await startApiStack(t, defaults, db)

  t.test('documented in the OpenAPI document, with CSV bodies for bulk creation', async t => {
    const doc = (await call(s, '/openapi.json', { key: null })).body
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map(x => `${x.toUpperCase()} ${p}`))
    for (const want of ['GET /api/v1/devices', 'POST /api/v1/devices', 'GET /api/v1/devices/{id}', 'DELETE /api/v1/devices/{id}', 'POST /api/v1/devices/{id}/rotate', 'POST /api/v1/devices/bulk', 'GET /api/v1/api-keys', 'POST /api/v1/api-keys', 'DELETE /api/v1/api-keys/{keyId}', 'POST /api/v1/api-keys/{keyId}/rotate', 'POST /api/v1/api-keys/bulk']) t.ok(ops.includes(want), want)
    for (const path of ['/api/v1/devices/bulk', '/api/v1/api-keys/bulk']) t.same(Object.keys(doc.paths[path].post.requestBody.content).sort(), ['application/json', 'text/csv'], `${path} takes JSON or CSV`)
    t.same(doc.paths['/api/v1/devices'].get.security, [{ apiKey: [] }])
  })

  t.test('admin role only', async t => {
    for (const [key, status] of [[null, 401], [s.keys.read, 403], [s.keys.ingest, 403]] as const) {
      t.equal((await call(s, '/api/v1/devices', { key })).status, status)
      t.equal((await call(s, '/api/v1/devices', { method: 'POST', key, body: { vehicle_id: 'x1' } })).status, status)
      t.equal((await call(s, '/api/v1/devices/bulk', { method: 'POST', key, body: ['x2'] })).status, status)
    }
    t.same((await call(s, '/api/v1/devices?status=all')).body.devices, [], 'nothing was issued by refused requests')
  })

  t.test('create, connect, rotate, revoke', async t => {
    const made = await call(s, '/api/v1/devices', { method: 'POST', body: { vehicle_id: 'truck-1' } })
    t.equal(made.status, 201)
    conforms(t, 'device-token', made.body)
    t.equal(made.headers.get('cache-control'), 'no-store', 'a token is never cached')
    t.match(made.body.token, /^fgt_[A-Za-z0-9_-]{43}$/)
    t.notOk(readFileSync(registryPath(s.config.DATA_DIR), 'utf8').includes(made.body.token), 'only its hash is stored')

    const again = await call(s, '/api/v1/devices', { method: 'POST', body: { vehicle_id: 'truck-1' } })
    t.equal(again.status, 409)
    t.equal(again.body.code, 'API_ERR_CONFLICT')
    t.equal((await call(s, '/api/v1/devices', { method: 'POST', body: { vehicle_id: 'bad id' } })).body.code, 'API_ERR_VALIDATION')

    const one = await call(s, '/api/v1/devices/truck-1')
    conforms(t, 'device', one.body)
    t.match(one.body, { vehicle_id: 'truck-1', status: 'active', revoked_at: null })

    const first = await connect(s, 'truck-1', made.body.token)
    t.notOk(first instanceof Error, 'the issued token connects')
    if (!(first instanceof Error)) await first.endAsync()

    const rotated = await call(s, '/api/v1/devices/truck-1/rotate', { method: 'POST' })
    t.equal(rotated.status, 200)
    t.not(rotated.body.token, made.body.token)
    // the gateway follows the registry file; the new token works once it has read it
    let client: mqtt.MqttClient | null = null
    await pollUntil(async () => { const c = await connect(s, 'truck-1', rotated.body.token); if (c instanceof Error) return false; client = c; return true }, 10000, 'the rotated token to connect')
    t.ok(await connect(s, 'truck-1', made.body.token) instanceof Error, 'the old token is refused')

    const closed = new Promise<void>(resolve => (client as unknown as mqtt.MqttClient).once('close', () => resolve()))
    const revoked = await call(s, '/api/v1/devices/truck-1', { method: 'DELETE' })
    t.equal(revoked.status, 204)
    await closed
    t.pass('revocation closed the session')
    t.ok(await connect(s, 'truck-1', rotated.body.token) instanceof Error, 'the revoked token is refused')
    t.match((await call(s, '/api/v1/devices/truck-1')).body, { status: 'revoked', revoked_at: String })

    for (const [method, path] of [['DELETE', '/api/v1/devices/truck-1'], ['POST', '/api/v1/devices/truck-1/rotate'], ['DELETE', '/api/v1/devices/never-seen'], ['POST', '/api/v1/devices/never-seen/rotate']]) {
      const r = await call(s, path as string, { method })
      t.equal(r.status, 404, `${method} ${path}`)
      t.equal(r.body.code, 'API_ERR_NOT_FOUND')
    }
    t.equal((await call(s, '/api/v1/devices/never-seen')).status, 404)
    t.equal((await call(s, '/api/v1/devices', { method: 'POST', body: { vehicle_id: 'truck-1' } })).status, 201, 'a revoked vehicle can be given a token again')
  })

  t.test('bulk from JSON: 10,000 vehicles, each token once', async t => {
    const ids = Array.from({ length: 10000 }, (_, i) => `fleet-${String(i).padStart(5, '0')}`)
    const started = performance.now()
    const r = await call(s, '/api/v1/devices/bulk', { method: 'POST', body: ids.map((id, i) => i % 2 ? id : { vehicle_id: id }) })
    const ms = performance.now() - started
    t.comment(`provisioned 10,000 vehicles in one request: ${ms.toFixed(0)} ms, response ${r.text.length} bytes`)
    t.equal(r.status, 200, 'status')
    conforms(t, 'devices-bulk-result', r.body)
    t.equal(r.headers.get('cache-control'), 'no-store')
    t.match(r.body, { created: 10000, rotated: 0, skipped: [] })
    t.same(r.body.devices.map((d: { vehicle_id: string }) => d.vehicle_id), ids, 'one token per vehicle, in request order')
    t.equal(new Set(r.body.devices.map((d: { token: string }) => d.token)).size, 10000, 'all different')

    // every token is the one the gateway checks: a registry opened on the file verifies each
    const registry = openDeviceRegistry(s.config.DATA_DIR)
    t.equal(r.body.devices.filter((d: { vehicle_id: string, token: string }) => !registry.verify(d.vehicle_id, d.token)).length, 0, 'all 10,000 tokens verify')
    registry.close()
    const text = readFileSync(registryPath(s.config.DATA_DIR), 'utf8')
    t.notOk(r.body.devices.some((d: { token: string }) => text.includes(d.token)), 'no token in clear on disk')
    const sample = [r.body.devices[0], r.body.devices[4999], r.body.devices[9999]] as Array<{ vehicle_id: string, token: string }>
    for (const d of sample) {
      const c = await connect(s, d.vehicle_id, d.token)
      t.notOk(c instanceof Error, `${d.vehicle_id} connects over MQTT`)
      if (!(c instanceof Error)) await c.endAsync()
    }

    // the listing pages through them by id
    const seen: string[] = []
    let after: string | null = null
    let pages = 0
    do {
      const page: { body: { devices: Array<{ vehicle_id: string }>, next_after: string | null } } = await call(s, `/api/v1/devices?limit=3000${after ? `&after=${after}` : ''}`)
      seen.push(...page.body.devices.map(d => d.vehicle_id).filter(id => id.startsWith('fleet-')))
      after = page.body.next_after
      pages++
    } while (after)
    t.equal(pages, 4)
    t.same(seen, ids, 'listed once each, sorted')

    const rerun = await call(s, '/api/v1/devices/bulk', { method: 'POST', body: ids.slice(0, 100) })
    t.match(rerun.body, { created: 0, rotated: 0, devices: [] }, 'a second run issues nothing')
    t.equal(rerun.body.skipped.length, 100)
    const rotate = await call(s, '/api/v1/devices/bulk?existing=rotate', { method: 'POST', body: ids.slice(0, 100) })
    t.match(rotate.body, { created: 0, rotated: 100, skipped: [] })
    t.equal(rotate.body.devices.length, 100)
    t.notOk(openDeviceRegistry(s.config.DATA_DIR).verify(ids[0] as string, r.body.devices[0].token), 'a rotated vehicle\'s old token no longer verifies')
  })

  t.test('bulk from CSV', async t => {
    const r = await csv(s, '/api/v1/devices/bulk', '\ufeffvehicle_id,model\r\nvan-1,Sprinter\r\n"van-2","Transit, long"\r\n\r\nvan-3\r\n')
    t.equal(r.status, 200)
    t.same(r.body.devices.map((d: { vehicle_id: string }) => d.vehicle_id), ['van-1', 'van-2', 'van-3'])
    t.equal(r.body.created, 3)

    const ids = Array.from({ length: 10000 }, (_, i) => `csv-${i}`)
    const started = performance.now()
    const big = await csv(s, '/api/v1/devices/bulk', 'vehicle_id,depot\n' + ids.map(id => `${id},north`).join('\n') + '\n')
    t.comment(`provisioned 10,000 vehicles from CSV in one request: ${(performance.now() - started).toFixed(0)} ms`)
    t.equal(big.status, 200)
    t.equal(big.body.created, 10000)
    t.same(big.body.devices.map((d: { vehicle_id: string }) => d.vehicle_id), ids)
  })

  t.test('a bad list issues nothing and says what is wrong', async t => {
    const before = readFileSync(registryPath(s.config.DATA_DIR), 'utf8')
    const r = await call(s, '/api/v1/devices/bulk', { method: 'POST', body: ['ok-1', 'bad id', 'ok-2', 'ok-1'] })
    t.equal(r.status, 400)
    t.equal(r.body.code, 'API_ERR_VALIDATION')
    t.match(r.body.detail, /\[1\] "bad id" is not a vehicle id/)
    t.match(r.body.detail, /\[3\] ok-1 appears twice/)
    const csvBad = await csv(s, '/api/v1/devices/bulk', 'vehicle_id\n"unclosed\n')
    t.equal(csvBad.status, 400)
    t.equal((await call(s, '/api/v1/devices/bulk', { method: 'POST', body: [] })).status, 400, 'an empty list')
    const tooMany = await call(s, '/api/v1/devices/bulk', { method: 'POST', body: Array.from({ length: 10001 }, (_, i) => `m-${i}`) })
    t.equal(tooMany.status, 400, 'more than 10,000 in one request')
    t.equal(readFileSync(registryPath(s.config.DATA_DIR), 'utf8'), before, 'the registry is unchanged')
  })
})

t.test('the admin routes are refused while API_AUTH=off', async t => {
  const s = await startApiStack(t, { ...defaults, API_AUTH: 'off' })
  for (const [method, path, body] of [['GET', '/api/v1/devices', undefined], ['POST', '/api/v1/devices', { vehicle_id: 'v1' }], ['POST', '/api/v1/devices/bulk', ['v1']], ['GET', '/api/v1/api-keys', undefined], ['POST', '/api/v1/api-keys', { role: 'admin' }]] as const) {
    const r = await call(s, path, { method, key: null, ...(body ? { body } : {}) })
    t.equal(r.status, 403, `${method} ${path}`)
    t.match(r.body.detail, /API_AUTH=off/)
  }
})
