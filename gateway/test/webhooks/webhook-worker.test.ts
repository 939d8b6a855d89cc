// The backoff between attempts: doubling from WEBHOOK_BACKOFF_MS, capped at
// WEBHOOK_BACKOFF_MAX_MS, drawn between half and all of that.
import t from 'tap'
import { backoffDelay } from '../../src/webhooks/webhook-worker.js'

t.test('exponential, capped, with jitter over the upper half', async t => {
  const policy = { backoffMs: 1000, backoffMaxMs: 600_000 }
  t.same([1, 2, 3, 4].map(n => backoffDelay(policy, n, 1)), [1000, 2000, 4000, 8000])
  t.same([1, 2, 3, 4].map(n => backoffDelay(policy, n, 0)), [500, 1000, 2000, 4000])
  t.equal(backoffDelay(policy, 30, 1), 600_000, 'capped')
  t.equal(backoffDelay(policy, 10_000, 0), 300_000, 'no overflow after many failures')
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(policy, 3)
    t.ok(d >= 2000 && d <= 4000, 'within [half, full]')
  }
})
