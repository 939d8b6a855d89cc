// Webhooks across machines: a webhook registered on machine 1 (its own
// DATA_DIR) reaches the delivery of machine 2 through the Redis registry
// stream, which then delivers to it; a delete on machine 1 drops it there too.
import t from 'tap'
import { Registry } from 'prom-client'
import { pollUntil, quietLogger, tempDir } from '../../../test/helper.js'
import { startRedisForTest } from '../../../test/redis-helper.js'
import { openRegistryStream } from '../../src/bus/registry-stream.js'
import { createWebhookDelivery } from '../../src/webhooks/webhook-delivery.js'
import { deleteWebhook, registerWebhook, webhooksFile } from '../../src/webhooks/webhook-registry.js'
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../src/webhooks/webhook-signature.js'
import { startReceiver } from './receiver-helper.js'

t.test('a webhook registered on one machine is delivered to from another', async t => {
  const redis = await startRedisForTest(t)
  const r = await startReceiver(t)
  const dir1 = tempDir(t)
  const dir2 = tempDir(t)
  const log = quietLogger()
  const delivery2 = await createWebhookDelivery({ dir: dir2, log, metrics: { registry: new Registry() }, backoffMs: 10, backoffMaxMs: 50, timeoutMs: 1000, pollMs: 50 })
  t.teardown(() => delivery2.close())
  const node1 = openRegistryStream({ url: redis.url, node: 'm1', log, forward: [{ kind: 'webhook', file: webhooksFile(dir1) }], apply: {}, intervalMs: 50 })
  t.teardown(() => node1.close())
  const node2 = openRegistryStream({ url: redis.url, node: 'm2', log, forward: [{ kind: 'webhook', file: webhooksFile(dir2) }], apply: { webhook: line => delivery2.apply(line) }, intervalMs: 50 })
  t.teardown(() => node2.close())

  const hook = registerWebhook(dir1, { url: r.url, types: ['panic'] })
  await pollUntil(async () => delivery2.depth().has(hook.id), 20000, 'the webhook known on machine 2')
  await delivery2.enqueue([{ id: 's-1', type: 'panic', vehicle_id: 'v7', ts: '2026-12-01T12:00:00.000Z' }, { id: 's-2', type: 'overspeed', vehicle_id: 'v7', ts: '2026-12-01T12:00:01.000Z' }])
  await pollUntil(async () => r.delivered().has('s-1'), 20000, 'the delivery from machine 2')
  t.same([...r.delivered()], ['s-1'], 'filtered as registered')
  const q = r.requests[0]
  t.ok(q && verifyWebhookSignature(String(q.headers[SIGNATURE_HEADER]), hook.secret, q.body), 'signed with the secret made on machine 1')

  t.ok(deleteWebhook(dir1, hook.id))
  await pollUntil(async () => !delivery2.depth().has(hook.id), 20000, 'the delete applied on machine 2')
})
