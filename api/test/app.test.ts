// The api as a whole: OpenAPI document, auth (401 vs 403), rate limits,
// security headers, CORS, HTTPS, metrics, health, and injection attempts
// through every parameter of every route.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { Agent } from 'undici'
import SwaggerParser from '@apidevtools/swagger-parser'
import WebSocket from 'ws'
import { startQuestDbForTest, pollCount, tempDir, count, testConfig, quietLogger } from '../../test/helper.js'
import { createLocalLiveBus } from '../../lib/live-bus.js'
import { runApi } from '../src/main.js'
import { startApiStack, call, conforms, ingest, publish } from './fixture.js'
import { redactUrl } from '../src/app.js'
import { apiSchema } from '../src/api-schemas.js'
import { VEHICLE_ID_PATTERN } from '../../schemas/topics.js'

const INJECTIONS = ["' OR '1'='1", "x'; DROP TABLE readings; --", '1 OR 1=1', '$1', '%00', '\\', '"', "') UNION SELECT * FROM rejections --"]

t.test('request urls are logged with query tokens redacted', async t => {
  t.equal(redactUrl('/api/v1/live?token=abc&x=1'), '/api/v1/live?token=[redacted]&x=1')
  t.equal(redactUrl('/a?x=1&api_key=k'), '/a?x=1&api_key=[redacted]')
  t.equal(redactUrl('/a?tokens=1'), '/a?tokens=1')
})

t.test('the vehicle id pattern of schemas/api is the one of topics.ts', async t => {
  t.equal((apiSchema('rejections-query').properties as { vehicle_id: { pattern: string } }).vehicle_id.pattern, VEHICLE_ID_PATTERN.source)
})

t.test('api', async t => {
  const db = await startQuestDbForTest(t)
  const s = await startApiStack(t, {}, db)
  const now = Date.now()
  await ingest(s, 'app-1', [{ ts: now - 2000, lat: 1, lon: 1 }, { ts: now - 1000, lat: 1.5, lon: 1.5 }])
  await pollCount(s.pgUrl, 'SELECT count() n FROM readings', 2)

  t.test('OpenAPI: a valid document holding every route, served with the UI', async t => {
    const r = await call(s, '/openapi.json', { key: null })
    t.equal(r.status, 200)
    const doc = r.body
    await t.resolves(SwaggerParser.validate(structuredClone(doc)), 'valid OpenAPI')
    t.equal(doc.openapi, '3.1.0')
    const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, m]) => Object.keys(m).map(x => `${x.toUpperCase()} ${p}`)).sort()
    for (const want of ['GET /api/v1/vehicles', 'GET /api/v1/vehicles/{id}', 'GET /api/v1/vehicles/{id}/readings', 'POST /api/v1/vehicles/{id}/readings', 'GET /api/v1/vehicles/{id}/track', 'GET /api/v1/vehicles/{id}/events', 'GET /api/v1/positions', 'GET /api/v1/stats', 'GET /api/v1/rejections', 'GET /healthz', 'GET /readyz']) {
      t.ok(ops.includes(want), want)
    }
    t.ok(doc.components.schemas.Position && doc.components.schemas.Track, 'components named after schema titles')
    t.same(doc.paths['/api/v1/vehicles'].get.security, [{ apiKey: [] }])
    const ui = await fetch(s.httpUrl + '/docs/')
    t.equal(ui.status, 200)
    t.match(await ui.text(), /swagger/i)
  })

  t.test('auth: 401 without or with an unknown key, 403 with the wrong role', async t => {
    const none = await call(s, '/api/v1/vehicles', { key: null })
    t.equal(none.status, 401)
    t.equal(none.body.code, 'API_ERR_UNAUTHORIZED')
    conforms(t, 'problem', none.body)
    t.match(none.headers.get('www-authenticate'), /^Bearer/)
    t.match(none.headers.get('content-type'), /application\/problem\+json/)
    t.equal((await call(s, '/api/v1/vehicles', { key: 'fgk_not-a-key-at-all' })).status, 401)
    const basic = await fetch(s.httpUrl + '/api/v1/vehicles', { headers: { authorization: 'Basic YWRtaW46cXVlc3Q=' } })
    t.equal(basic.status, 401)
    t.equal((await call(s, '/api/v1/vehicles', { key: s.keys.ingest })).status, 403, 'ingest may not read')
    const wrong = await call(s, '/api/v1/vehicles/app-1/readings', { method: 'POST', key: s.keys.read, body: [{ ts: now, lat: 1, lon: 1 }] })
    t.equal(wrong.status, 403, 'read may not ingest')
    t.equal(wrong.body.code, 'API_ERR_FORBIDDEN')
    t.equal((await call(s, '/api/v1/vehicles', { key: s.keys.read })).status, 200)
    t.equal((await call(s, '/api/v1/vehicles', { key: s.keys.admin })).status, 200, 'admin may do everything')
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) t.equal((await call(s, path, { key: null })).status, 200, `${path} is public`)
  })

  t.test('security headers on every response, a CSP fit for a same-origin canvas map', async t => {
    for (const [path, key] of [['/api/v1/vehicles', s.keys.read], ['/healthz', null], ['/nowhere', null], ['/api/v1/vehicles', null]] as const) {
      const r = await call(s, path, { key })
      const csp = r.headers.get('content-security-policy') ?? ''
      t.match(csp, /default-src 'self'/, `${path}: CSP`)
      t.match(csp, /img-src 'self' data: blob:/)
      t.match(csp, /connect-src 'self'/)
      t.equal(r.headers.get('x-content-type-options'), 'nosniff')
      t.ok(r.headers.get('strict-transport-security'))
    }
  })

  t.test('the live feed takes the same API keys', async t => {
    const url = s.httpUrl.replace(/^http/, 'ws') + '/api/v1/live'
    const status = (ws: WebSocket): Promise<number> => new Promise(resolve => {
      ws.once('open', () => { ws.close(); resolve(101) })
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0) })
      ws.once('error', () => {})
    })
    t.equal(await status(new WebSocket(url)), 401, 'no key: 401 before the upgrade')
    t.equal(await status(new WebSocket(url, { headers: { authorization: 'Bearer fgk_not-a-key' } })), 401, 'unknown key: 401')
    t.equal(await status(new WebSocket(url, ['fleetgate.v1', `bearer.${s.keys.read}`])), 101, 'a read key in the subprotocol')
    t.equal(await status(new WebSocket(url, { headers: { authorization: `Bearer ${s.keys.read}` } })), 101, 'a read key in the header')
  })

  t.test('metrics: api and gateway in one Prometheus text', async t => {
    const ws = new WebSocket(s.httpUrl.replace(/^http/, 'ws') + '/api/v1/live', { headers: { authorization: `Bearer ${s.keys.read}` } })
    await new Promise(resolve => ws.once('open', resolve))
    t.teardown(() => ws.close())
    await publish(t, s, 'app-2', 'telemetry', [JSON.stringify({ ts: now, lat: 2, lon: 2 }), 'not json'])
    // queryable before the next subtest counts the readings
    await pollCount(s.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'app-2'", 1)
    const r = await call(s, '/metrics', { key: null })
    t.match(r.headers.get('content-type'), /^text\/plain/)
    for (const line of [
      /fleetgate_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/vehicles"/,
      /fleetgate_readings_received_total\{kind="telemetry"\} \d+/,
      /fleetgate_readings_accepted_total\{kind="telemetry"\} \d+/,
      /fleetgate_readings_rejected_total\{reason="invalid_json"\} 1/,
      /fleetgate_ilp_batches_total\{outcome="ok"\} \d+/,
      /fleetgate_ilp_flush_seconds_bucket/,
      /fleetgate_questdb_errors_total 0/,
      /fleetgate_mqtt_connected_clients \d+/,
      /fleetgate_ws_clients 1/
    ]) t.match(r.text, line, String(line))
    t.notMatch(r.text, /route="\/api\/v1\/vehicles\/app-1/, 'route templates, never raw urls')
  })

  t.test('injection through every parameter: refused or harmless, never a 500', async t => {
    const before = await count(s.pgUrl, 'SELECT count() n FROM readings')
    const templates = [
      (x: string) => `/api/v1/vehicles/${x}`,
      (x: string) => `/api/v1/vehicles/${x}/readings`,
      (x: string) => `/api/v1/vehicles/app-1/readings?from=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/readings?to=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/readings?limit=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/readings?cursor=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/readings?cursor=${Buffer.from(JSON.stringify([1, 1, x])).toString('base64url')}`,
      (x: string) => `/api/v1/vehicles/${x}/track`,
      (x: string) => `/api/v1/vehicles/app-1/track?from=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/track?max_points=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/track?format=${x}`,
      (x: string) => `/api/v1/vehicles/${x}/events`,
      (x: string) => `/api/v1/vehicles/app-1/events?type=${x}`,
      (x: string) => `/api/v1/vehicles/app-1/events?cursor=${Buffer.from(JSON.stringify([1, 1, x])).toString('base64url')}`,
      (x: string) => `/api/v1/positions?bbox=${x}`,
      (x: string) => `/api/v1/positions?bbox=1,2,3,${x}`,
      (x: string) => `/api/v1/rejections?vehicle_id=${x}`,
      (x: string) => `/api/v1/rejections?reason=${x}`,
      (x: string) => `/api/v1/rejections?from=${x}`,
      (x: string) => `/api/v1/rejections?cursor=${Buffer.from(JSON.stringify([1, 1, x])).toString('base64url')}`
    ]
    let tried = 0
    for (const make of templates) {
      for (const x of INJECTIONS) {
        const r = await call(s, make(encodeURIComponent(x)), { key: s.keys.admin })
        tried++
        if (r.status >= 500 || (r.status === 200 && JSON.stringify(r.body).includes('"rejections":[{'))) t.fail(`${make(x)} -> ${r.status} ${r.text.slice(0, 200)}`)
      }
    }
    const post = await call(s, '/api/v1/vehicles/app-1/readings', { method: 'POST', key: s.keys.ingest, body: INJECTIONS.map(x => ({ ts: x, lat: 1, lon: 1 })) })
    t.equal(post.body.rejected, INJECTIONS.length, 'injections in a body are quarantined as schema errors')
    t.pass(`${tried} attempts, none a 500`)
    t.equal(await count(s.pgUrl, 'SELECT count() n FROM readings'), before, 'readings untouched')
  })

  t.test('rate limit per key, with Retry-After; CORS', async t => {
    const limited = await startApiStack(t, { API_RATE_LIMIT: 3, CORS_ORIGINS: 'https://maps.example' }, db)
    for (let i = 0; i < 3; i++) t.equal((await call(limited, '/api/v1/stats', { key: limited.keys.read })).status, 200)
    const over = await call(limited, '/api/v1/stats', { key: limited.keys.read })
    t.equal(over.status, 429)
    t.equal(over.body.code, 'API_ERR_RATE_LIMITED')
    t.match(over.headers.get('content-type'), /application\/problem\+json/)
    t.ok(Number(over.headers.get('retry-after')) > 0, 'Retry-After in seconds')
    t.equal((await call(limited, '/api/v1/stats', { key: limited.keys.admin })).status, 200, 'another key has its own budget')
    const pre = await fetch(limited.httpUrl + '/api/v1/vehicles', { method: 'OPTIONS', headers: { origin: 'https://maps.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
    t.equal(pre.headers.get('access-control-allow-origin'), 'https://maps.example')
    const other = await fetch(limited.httpUrl + '/healthz', { headers: { origin: 'https://evil.example' } })
    t.equal(other.headers.get('access-control-allow-origin'), null, 'other origins get no CORS grant')
  })

  t.test('HTTPS with the MQTT TLS certificate', async t => {
    const dir = tempDir(t)
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' })
    const tls = await startApiStack(t, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key, MQTT_TLS_PORT: 0 }, db)
    t.match(tls.httpUrl, /^https:/)
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } })
    t.teardown(() => dispatcher.close())
    const r = await fetch(tls.httpUrl + '/healthz', { dispatcher } as unknown as RequestInit)
    t.equal(r.status, 200)
  })

  t.test('the api alone ingests over HTTP with its own ILP writer', async t => {
    const config = testConfig(tempDir(t), db, { API_AUTH: 'off' })
    const alone = await runApi(config, quietLogger(), { questdb: db, live: createLocalLiveBus() })
    t.teardown(() => alone.close())
    const res = await fetch(alone.url + '/api/v1/vehicles/alone-1/readings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ ts: now - 10, lat: 3, lon: 3 }, { ts: now - 5, lat: 300, lon: 3 }]) })
    t.equal(res.status, 200)
    t.same(await res.json(), { accepted: 1, rejected: 1, results: [{ index: 1, reason: 'schema', detail: '/lat must be <= 90' }] })
    t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'alone-1'", 1), 1, 'durable when answered')
    const metrics = await (await fetch(alone.url + '/metrics')).text()
    t.match(metrics, /fleetgate_ilp_batches_total\{outcome="ok"\} [1-9]/, 'its writer is measured')
    t.match(metrics, /fleetgate_readings_rejected_total\{reason="schema"\} 1/)
  })

  t.test('readyz says 503 while shutting down', async t => {
    const other = await startApiStack(t, {}, db)
    t.equal((await call(other, '/readyz', { key: null })).status, 200)
    const closing = other.api.fastify.close()
    // preClose has run; an inject still reaches the route while close is pending
    const during = await other.api.fastify.inject({ url: '/readyz' })
    await closing
    t.equal(during.statusCode, 503)
    t.equal(JSON.parse(during.body).status, 'shutting_down')
  })
})
