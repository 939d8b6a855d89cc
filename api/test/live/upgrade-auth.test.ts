// Who may open the live feed, decided on the upgrade request: the key is read
// by the same parser as on HTTP routes (plus subprotocol and ?token= for
// browsers), and a refusal is a complete problem+json body, `code` included.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { createUpgradeAuth } from '../../src/live/upgrade-auth.js'
import { createLiveMetrics, metricValue } from '../../src/live/live-metrics.js'
import { conforms } from '../fixture.js'

async function build (t: Test) {
  const metrics = createLiveMetrics()
  const fastify = Fastify()
  const verify = (token: string) => token === 'good' ? true : token === 'ingest-only' ? 'forbidden' as const : false
  fastify.get('/api/v1/live', { preValidation: createUpgradeAuth(verify, metrics) }, async () => 'let in')
  t.teardown(() => fastify.close())
  await fastify.ready()
  return { fastify, metrics }
}

t.test('no key: 401 problem+json with code API_ERR_UNAUTHORIZED, saying how to send one', async t => {
  const { fastify, metrics } = await build(t)
  const res = await fastify.inject({ url: '/api/v1/live' })
  t.equal(res.statusCode, 401)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.equal(res.headers['www-authenticate'], 'Bearer')
  const body = res.json()
  conforms(t, 'problem', body)
  t.match(body, { status: 401, title: 'Unauthorized', code: 'API_ERR_UNAUTHORIZED', instance: '/api/v1/live', detail: /Authorization: Bearer <key>.*bearer\.<key>.*\?token=<key>/ })
  t.equal(await metricValue(metrics.authFailures), 1, 'counted')
})

t.test('an unknown key: 401 with code; the query token never reaches `instance`', async t => {
  const { fastify } = await build(t)
  const res = await fastify.inject({ url: '/api/v1/live?token=secret-guess' })
  t.equal(res.statusCode, 401)
  const body = res.json()
  conforms(t, 'problem', body)
  t.match(body, { code: 'API_ERR_UNAUTHORIZED', detail: 'API key not accepted', instance: '/api/v1/live' })
})

t.test('a known key without the read role: 403 with code API_ERR_FORBIDDEN', async t => {
  const { fastify } = await build(t)
  const res = await fastify.inject({ url: '/api/v1/live', headers: { authorization: 'Bearer ingest-only' } })
  t.equal(res.statusCode, 403)
  const body = res.json()
  conforms(t, 'problem', body)
  t.match(body, { code: 'API_ERR_FORBIDDEN', detail: /read role/ })
})

t.test('the key in the header, in a bearer.<key> subprotocol or in ?token=', async t => {
  const { fastify, metrics } = await build(t)
  for (const [what, req] of [
    ['header', { url: '/api/v1/live', headers: { authorization: 'Bearer good' } }],
    ['subprotocol', { url: '/api/v1/live', headers: { 'sec-websocket-protocol': 'fleetgate.v1, bearer.good' } }],
    ['query', { url: '/api/v1/live?token=good' }]
  ] as const) {
    const res = await fastify.inject(req)
    t.equal(res.statusCode, 200, what)
    t.equal(res.body, 'let in', what)
  }
  t.equal(await metricValue(metrics.authFailures), 0, 'nothing refused')
})
