// The webhook signature: what the gateway signs, a receiver verifies; a
// changed body, another secret, an old timestamp or a malformed header fail.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { signWebhookBody, verifyWebhookSignature } from '../../src/webhooks/webhook-signature.js'

const secret = 'whsec_0123456789abcdef'
const body = JSON.stringify({ webhook_id: 'wh_0011223344556677', alert: { id: 'a1', type: 'overspeed', vehicle_id: 'v1', ts: '2026-12-01T00:00:00Z' } })

t.test('the header is t=<seconds>,v1=<HMAC-SHA256 of t.body>', async t => {
  const header = signWebhookBody(secret, body, 1_800_000_000)
  const want = createHmac('sha256', secret).update(`1800000000.${body}`).digest('hex')
  t.equal(header, `t=1800000000,v1=${want}`)
})

t.test('verify accepts what sign made and refuses anything else', async t => {
  const now = 1_800_000_000
  const header = signWebhookBody(secret, body, now)
  t.ok(verifyWebhookSignature(header, secret, body, { nowS: now }))
  t.ok(verifyWebhookSignature(header, secret, body, { nowS: now + 299 }), 'within the tolerance')
  t.notOk(verifyWebhookSignature(header, secret, body, { nowS: now + 301 }), 'too old: a replay')
  t.notOk(verifyWebhookSignature(header, secret, body + ' ', { nowS: now }), 'another body')
  t.notOk(verifyWebhookSignature(header, 'whsec_another-secret-here', body, { nowS: now }), 'another secret')
  t.notOk(verifyWebhookSignature(header.replace('t=1800000000', 't=1800000001'), secret, body, { nowS: now }), 'another timestamp')
  t.notOk(verifyWebhookSignature('v1=' + header.split('v1=')[1], secret, body, { nowS: now }), 'no timestamp')
  t.notOk(verifyWebhookSignature('garbage', secret, body, { nowS: now }))
  t.ok(verifyWebhookSignature(`${header},v1=00ff`, secret, body, { nowS: now }), 'any of several v1 entries')
})
