// Webhooks over the admin API, on a real stack with API keys on: admin only,
// the secret shown once, bad URLs refused with a code and nothing stored, and
// a webhook registered here is delivered to by a gateway's delivery on the
// same DATA_DIR, whose dead letters the API lists and retries.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { pollUntil, quietLogger } from '../../../test/helper.js'
import { createWebhookDelivery } from '../../../gateway/src/webhooks/webhook-delivery.js'
import { webhooksFile } from '../../../gateway/src/webhooks/webhook-registry.js'
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../../gateway/src/webhooks/webhook-signature.js'
import { startReceiver } from '../../../gateway/test/webhooks/receiver-helper.js'
import { call, conforms, startApiStack } from '../fixture.js'

t.test('webhooks over the admin API', async t => {
  const s = await startApiStack(t)

  t.test('admin role only', async t => {
    for (const [key, status] of [[null, 401], [s.keys.read, 403], [s.keys.ingest, 403]] as const) {
      t.equal((await call(s, '/api/v1/webhooks', { key })).status, status)
      t.equal((await call(s, '/api/v1/webhooks', { method: 'POST', key, body: { url: 'https://example.com/hook' } })).status, status)
    }
  })

  t.test('bad input: 400 with a code, nothing stored', async t => {
    const bad: Array<[unknown, string]> = [
      [{ url: 'ftp://example.com/hook' }, 'API_ERR_BAD_WEBHOOK_URL'],
      [{ url: 'not a url' }, 'API_ERR_BAD_WEBHOOK_URL'],
      [{ url: 'https://user:pw@example.com/hook' }, 'API_ERR_BAD_WEBHOOK_URL'],
      [{ url: 'javascript:alert(1)' }, 'API_ERR_BAD_WEBHOOK_URL'],
      [{}, 'API_ERR_VALIDATION'],
      [{ url: 'https://example.com/hook', secret: 'short' }, 'API_ERR_VALIDATION'],
      [{ url: 'https://example.com/hook', types: ['Not A Type'] }, 'API_ERR_VALIDATION'],
      [{ url: 'https://example.com/hook', extra: 1 }, 'API_ERR_VALIDATION']
    ]
    for (const [body, code] of bad) {
      const res = await call(s, '/api/v1/webhooks', { method: 'POST', body })
      t.equal(res.status, 400, JSON.stringify(body))
      t.equal(res.body.code, code, JSON.stringify(body))
      t.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    }
    t.same((await call(s, '/api/v1/webhooks')).body.webhooks, [])
    t.equal((await call(s, '/api/v1/webhooks/not-an-id')).body.code, 'API_ERR_VALIDATION')
    t.equal((await call(s, '/api/v1/webhooks/wh_0000000000000000')).status, 404)
    t.equal((await call(s, '/api/v1/webhooks/wh_0000000000000000/dead-letters')).status, 404)
    t.equal((await call(s, '/api/v1/webhooks/wh_0000000000000000/dead-letters/retry', { method: 'POST' })).status, 404)
  })

  t.test('register, list, get, delete; the secret shown once', async t => {
    const made = await call(s, '/api/v1/webhooks', { method: 'POST', body: { url: 'https://ops.example.com/fleet', types: ['overspeed'], name: 'ops' } })
    t.equal(made.status, 201)
    conforms(t, 'webhook-secret', made.body)
    t.equal(made.headers.get('cache-control'), 'no-store')
    t.match(made.body, { url: 'https://ops.example.com/fleet', types: ['overspeed'], rule_ids: [], name: 'ops', secret: /^whsec_/ })
    const given = await call(s, '/api/v1/webhooks', { method: 'POST', body: { url: 'http://127.0.0.1:9/x', secret: 'a-secret-of-my-own-choice', rule_ids: ['r1'] } })
    t.equal(given.body.secret, 'a-secret-of-my-own-choice', 'a given secret kept')

    const list = await call(s, '/api/v1/webhooks')
    conforms(t, 'webhook-list', list.body)
    t.same(list.body.webhooks.map((h: { id: string }) => h.id).sort(), [made.body.id, given.body.id].sort())
    t.notOk(list.text.includes(made.body.secret) || list.text.includes('a-secret-of-my-own-choice'), 'no secret in the listing')
    const one = await call(s, `/api/v1/webhooks/${made.body.id as string}`)
    conforms(t, 'webhook', one.body)
    t.notOk('secret' in one.body)

    t.equal((await call(s, `/api/v1/webhooks/${made.body.id as string}`, { method: 'DELETE' })).status, 204)
    t.equal((await call(s, `/api/v1/webhooks/${made.body.id as string}`, { method: 'DELETE' })).status, 404)
    t.equal((await call(s, `/api/v1/webhooks/${made.body.id as string}`)).status, 404)
    t.same((await call(s, '/api/v1/webhooks')).body.webhooks.map((h: { id: string }) => h.id), [given.body.id])
    t.equal((await call(s, `/api/v1/webhooks/${given.body.id as string}`, { method: 'DELETE' })).status, 204)
    t.ok(readFileSync(webhooksFile(s.config.DATA_DIR), 'utf8').includes(given.body.id), 'kept durably in the append-only file')
  })

  t.test('a gateway on the same DATA_DIR delivers; dead letters listed and retried', async t => {
    const r = await startReceiver(t, { mode: 'fail' })
    const made = await call(s, '/api/v1/webhooks', { method: 'POST', body: { url: r.url } })
    const id = made.body.id as string
    const d = await createWebhookDelivery({ dir: s.config.DATA_DIR, log: quietLogger(), metrics: { registry: new Registry() }, maxAgeMs: 300, backoffMs: 10, backoffMaxMs: 50, timeoutMs: 5000, pollMs: 50 })
    t.teardown(() => d.close())
    await d.enqueue([{ id: 'api-1', type: 'geofence_exit', vehicle_id: 'v1', ts: '2026-12-01T10:00:00.000Z', geofence_id: 'depot' }])

    await pollUntil(async () => (await call(s, `/api/v1/webhooks/${id}/dead-letters`)).body.dead_letters?.length === 1, 20000, 'a dead letter')
    const dead = await call(s, `/api/v1/webhooks/${id}/dead-letters`)
    conforms(t, 'webhook-dead-letters', dead.body)
    t.match(dead.body.dead_letters[0], { idempotency_key: `api-1:${id}`, alert: { id: 'api-1' }, last_error: 'http 500' })
    t.ok(dead.body.dead_letters[0].attempts >= 1)

    r.mode = 'ok'
    const retry = await call(s, `/api/v1/webhooks/${id}/dead-letters/retry`, { method: 'POST' })
    t.equal(retry.status, 202)
    conforms(t, 'webhook-retry', retry.body)
    t.equal(retry.body.dead_letters, 1)
    await pollUntil(async () => r.delivered().has('api-1'), 20000, 'the retried delivery')
    await pollUntil(async () => (await call(s, `/api/v1/webhooks/${id}/dead-letters`)).body.dead_letters.length === 0, 5000, 'no dead letter left')
    const last = r.requests.at(-1)
    t.ok(last && verifyWebhookSignature(String(last.headers[SIGNATURE_HEADER]), made.body.secret, last.body), 'signed with the secret the API showed')
  })
})
