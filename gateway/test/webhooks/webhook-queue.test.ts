// The durable queue of one webhook: what was appended and not acked comes
// back after a reopen, in order and with its numbers; a rewrite of a mostly
// acked queue.jsonl keeps exactly what waits; dead letters revive.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { WebhookAlert as Alert } from '../../../schemas/types.js'
import { openWebhookQueue, readDeadLetters, webhookQueueDir } from '../../src/webhooks/webhook-queue.js'

const hookId = 'wh_00112233445566ff'

function alerts (prefix: string, n: number): Alert[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'overspeed', vehicle_id: 'v1', ts: '2026-12-01T00:00:00.000Z' }))
}

function lines (dir: string, name: string): number {
  return readFileSync(join(webhookQueueDir(dir, hookId), name), 'utf8').split('\n').filter(Boolean).length
}

t.test('acked deliveries stay done, the rest comes back; a mostly acked file is rewritten', async t => {
  const dir = t.testdir()
  const q = await openWebhookQueue(dir, hookId)
  await Promise.all([q.append(alerts('a', 700)), q.append(alerts('b', 700))])
  t.equal(q.size(), 1400)
  await q.append(alerts('a', 3))
  t.equal(q.size(), 1400, 'an alert already waiting is not queued twice')
  const all = [...q.pending()]
  for (const e of all.slice(0, 1300)) q.ack(e.n)
  // the rewrite happens in the writer's turn after the acks: one more append makes sure it ran
  await q.append(alerts('c', 1))
  await q.close()
  t.ok(lines(dir, 'queue.jsonl') <= 101 + 1, 'queue.jsonl rewritten with what waits')
  t.equal(lines(dir, 'acks.jsonl'), 0, 'acks emptied')

  const again = await openWebhookQueue(dir, hookId)
  t.teardown(() => again.close())
  const back = [...again.pending()]
  t.same(back.map(e => e.alert.id), [...all.slice(1300).map(e => e.alert.id), 'c-0'], 'what waits, in order')
  t.same(back.slice(0, 100).map(e => e.n), all.slice(1300).map(e => e.n), 'with the same numbers')
  await again.append(alerts('d', 1))
  t.ok([...again.pending()].at(-1)!.n > back.at(-1)!.n, 'new numbers after the old ones')
})

t.test('dead letters are kept, and revived into the queue', async t => {
  const dir = t.testdir()
  const q = await openWebhookQueue(dir, hookId)
  t.teardown(() => q.close())
  await q.append(alerts('x', 3))
  const [e0, e1] = [...q.pending()]
  await q.bury({ n: e0!.n, alert: e0!.alert, enq: e0!.enq, dead: 1000, attempts: 4, error: 'http 500' })
  await q.bury({ n: e1!.n, alert: e1!.alert, enq: e1!.enq, dead: 3000, attempts: 2, error: 'timeout after 10 ms' })
  t.equal(q.size(), 1)
  t.same(readDeadLetters(dir, hookId).map(l => [l.alert.id, l.error]), [['x-0', 'http 500'], ['x-1', 'timeout after 10 ms']])
  t.equal(await q.revive(2000), 1, 'those dead before the request')
  t.same([...q.pending()].map(e => e.alert.id), ['x-2', 'x-0'])
  t.same(readDeadLetters(dir, hookId).map(l => l.alert.id), ['x-1'])
})

t.test('each gateway worker has its own queues; the dead letters of all are listed', async t => {
  const dir = t.testdir()
  const q0 = await openWebhookQueue(dir, hookId)
  const q2 = await openWebhookQueue(dir, hookId, 2)
  t.teardown(async () => { await q0.close(); await q2.close() })
  await q0.append(alerts('w0', 1))
  await q2.append(alerts('w2', 1))
  const [a] = [...q0.pending()]
  const [b] = [...q2.pending()]
  await q2.bury({ n: b!.n, alert: b!.alert, enq: b!.enq, dead: 10, attempts: 1, error: 'http 502' })
  await q0.bury({ n: a!.n, alert: a!.alert, enq: a!.enq, dead: 20, attempts: 1, error: 'http 500' })
  t.same(readDeadLetters(dir, hookId).map(l => l.alert.id), ['w2-0', 'w0-0'], 'both workers\' dead letters, oldest first')
})
