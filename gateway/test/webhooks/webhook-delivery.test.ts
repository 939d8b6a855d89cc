// Webhook delivery against a real local HTTP receiver that fails, is slow,
// refuses connections and comes back: every alert arrives at least once,
// signed, with the same idempotency key at every attempt; a restart (close
// and reopen, or a killed process) mid-backlog loses nothing; an expired
// delivery becomes a dead letter with its last error, and can be retried.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import type { WebhookAlert as Alert } from '../../../schemas/types.js'
import { pollUntil, quietLogger } from '../../../test/helper.js'
import { createWebhookDelivery, type WebhookDelivery, type WebhookDeliveryOptions } from '../../src/webhooks/webhook-delivery.js'
import { readDeadLetters, webhookQueueDir } from '../../src/webhooks/webhook-queue.js'
import { deleteWebhook, registerWebhook, requestDeadLetterRetry } from '../../src/webhooks/webhook-registry.js'
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../src/webhooks/webhook-signature.js'
import { startReceiver, type Receiver } from './receiver-helper.js'

const SECRET = 'whsec_test-secret-of-some-length'
// small on purpose: the tests wait for outcomes, never for durations
const FAST = { timeoutMs: 1500, backoffMs: 10, backoffMaxMs: 80, pollMs: 50 }

function alerts (prefix: string, n: number, extra: Partial<Alert> = {}): Alert[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'geofence_enter', vehicle_id: 'v1', ts: new Date(Date.UTC(2026, 11, 1, 0, 0, i)).toISOString(), geofence_id: 'depot', data: { i }, ...extra }))
}

async function open (t: Test, dir: string, extra: Partial<WebhookDeliveryOptions> = {}): Promise<{ d: WebhookDelivery, registry: Registry }> {
  const registry = new Registry()
  const d = await createWebhookDelivery({ dir, log: quietLogger(), metrics: { registry }, ...FAST, ...extra })
  t.teardown(() => d.close())
  return { d, registry }
}

async function counter (registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name)
  if (!m) throw new Error(`no metric ${name}`)
  return (await m.get()).values.reduce((s, v) => s + v.value, 0)
}

/** Every request signed with the secret, each alert's requests carrying one key and one body. */
function checkRequests (t: Test, r: Receiver, hookId: string, secret: string): void {
  const byKey = new Map<string, Set<string>>()
  let bad = 0
  for (const q of r.requests) {
    const alert = (JSON.parse(q.body) as { alert: Alert }).alert
    // the signature's timestamp may be from a moment ago: a wide tolerance, the check is on the MAC
    if (!verifyWebhookSignature(String(q.headers[SIGNATURE_HEADER]), secret, q.body, { toleranceS: 3600 })) bad++
    const key = String(q.headers['idempotency-key'])
    if (key !== `${alert.id}:${hookId}`) bad++
    byKey.set(key, (byKey.get(key) ?? new Set()).add(q.body))
  }
  t.equal(bad, 0, 'every request signed and keyed by alert id and webhook id')
  t.ok([...byKey.values()].every(bodies => bodies.size === 1), 'the same body at every attempt of an alert')
}

t.test('a receiver that fails, is slow, refuses connections and comes back gets every alert', async t => {
  const dir = t.testdir()
  const r = await startReceiver(t, { mode: 'fail', slowMs: 6000 })
  const hook = registerWebhook(dir, { url: r.url, secret: SECRET })
  const { d, registry } = await open(t, dir, { concurrency: 3 })
  const sent = alerts('a', 25)
  await d.enqueue(sent.slice(0, 10))
  await d.enqueue(sent.slice(10))
  t.equal(d.depth().get(hook.id), 25, 'queued')

  await pollUntil(async () => await counter(registry, 'fleetgate_webhook_failed_attempts_total') >= 6, 20000, 'failed attempts on 500')
  r.mode = 'slow'
  let failed = await counter(registry, 'fleetgate_webhook_failed_attempts_total')
  await pollUntil(async () => await counter(registry, 'fleetgate_webhook_failed_attempts_total') >= failed + 3, 20000, 'attempts timed out on the slow receiver')
  await r.refuse()
  failed = await counter(registry, 'fleetgate_webhook_failed_attempts_total')
  await pollUntil(async () => await counter(registry, 'fleetgate_webhook_failed_attempts_total') >= failed + 3, 20000, 'attempts refused')
  t.equal(r.delivered().size, 0, 'nothing answered 2xx yet')
  r.mode = 'ok'
  await r.listen()

  await pollUntil(async () => r.delivered().size === 25, 30000, 'every alert answered 2xx')
  await pollUntil(async () => d.depth().get(hook.id) === 0, 10000, 'the queue empty')
  t.same([...r.delivered()].sort(), sent.map(a => a.id).sort(), 'every alert delivered')
  t.equal(await counter(registry, 'fleetgate_webhook_delivered_total'), 25)
  t.ok(r.requests.length > 25, 'retries happened')
  t.ok(await counter(registry, 'fleetgate_webhook_failed_attempts_total') >= 12, 'failed attempts counted')
  checkRequests(t, r, hook.id, SECRET)
  const attempts = r.requests.filter(q => (JSON.parse(q.body) as { alert: Alert }).alert.id === 'a-0').map(q => Number(q.headers['fleetgate-attempt']))
  // refused attempts never reach the receiver: numbers may skip, never repeat
  t.equal(attempts[0], 1, 'the first attempt numbered 1')
  t.ok(attempts.every((n, i) => i === 0 || n > (attempts[i - 1] as number)), 'attempt numbers increase')
})

t.test('close and reopen mid-backlog loses nothing', async t => {
  const dir = t.testdir()
  const r = await startReceiver(t, { mode: 'fail' })
  const hook = registerWebhook(dir, { url: r.url, secret: SECRET })
  const first = await open(t, dir)
  const sent = alerts('b', 40)
  await first.d.enqueue(sent)
  await pollUntil(async () => r.requests.length >= 5, 20000, 'attempts before the restart')
  await first.d.close()

  r.mode = 'ok'
  const second = await open(t, dir)
  t.equal(second.d.depth().get(hook.id) ?? 0, 40, 'the backlog reopened')
  await pollUntil(async () => r.delivered().size === 40, 30000, 'every alert after the restart')
  // the receiver answered; the sender may not have read the answer yet
  await pollUntil(async () => second.d.depth().get(hook.id) === 0, 10000, 'every answer seen')
  checkRequests(t, r, hook.id, SECRET)
  await second.d.close()
  const third = await open(t, dir)
  t.equal(third.d.depth().get(hook.id), 0, 'delivered deliveries stay done after another restart')
})

t.test('a process killed mid-backlog loses no acknowledged alert', async t => {
  const dir = t.testdir()
  const r = await startReceiver(t, { mode: 'fail' })
  const hook = registerWebhook(dir, { url: r.url, secret: SECRET })
  const helper = fileURLToPath(new URL('./webhook-crash-helper.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', helper, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const acked: string[] = []
  let out = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8')
    const lines = out.split('\n')
    out = lines.pop() ?? ''
    for (const l of lines) if (l.startsWith('acked ')) acked.push(...l.slice(6).split(','))
  })
  await pollUntil(async () => acked.length >= 60, 60000, 'enqueues acknowledged by the child')
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  t.ok(acked.length >= 60)

  r.mode = 'ok'
  const { d } = await open(t, dir)
  await pollUntil(async () => acked.every(id => r.delivered().has(id)), 60000, 'every acknowledged alert delivered').catch(err => {
    const missing = acked.filter(id => !r.delivered().has(id))
    t.comment({ acked: acked.length, missing: missing.length, firstMissing: missing.slice(0, 5), depth: [...d.depth()], requests: r.requests.length })
    throw err
  })
  t.pass(`${acked.length} acknowledged alerts delivered after the kill`)
  checkRequests(t, r, hook.id, SECRET)
  await pollUntil(async () => d.depth().get(hook.id) === 0, 30000, 'nothing left queued')
})

t.test('an expired delivery lands in dead letters with its last error, and can be retried', async t => {
  const dir = t.testdir()
  const failing = await startReceiver(t, { mode: 'fail' })
  const slow = await startReceiver(t, { mode: 'slow', slowMs: 6000 })
  const gone = await startReceiver(t)
  await gone.refuse()
  const hooks = {
    failing: registerWebhook(dir, { url: failing.url, secret: SECRET }),
    slow: registerWebhook(dir, { url: slow.url, secret: SECRET }),
    gone: registerWebhook(dir, { url: gone.url, secret: SECRET })
  }
  const { d, registry } = await open(t, dir, { maxAgeMs: 400 })
  await d.enqueue(alerts('c', 3))
  await pollUntil(async () => Object.values(hooks).every(h => readDeadLetters(dir, h.id).length === 3), 30000, 'dead letters on every webhook')
  t.equal(await counter(registry, 'fleetgate_webhook_dead_lettered_total'), 9)
  const errors = Object.fromEntries(Object.entries(hooks).map(([k, h]) => [k, [...new Set(readDeadLetters(dir, h.id).map(l => l.error))]]))
  t.same(errors.failing, ['http 500'])
  t.match(errors.slow, [/^timeout after 1500 ms$/])
  t.match(errors.gone, [/^connection error: ECONNREFUSED$/])
  const letters = readDeadLetters(dir, hooks.failing.id)
  t.ok(letters.every(l => l.dead - l.enq >= 400), 'given up once expired')
  // while the receiver fails it gets one attempt at a time: a delivery may expire untried, with the webhook's last error
  t.ok(letters.some(l => l.attempts >= 1), 'after attempts')
  t.equal(failing.delivered().size, 0)
  t.same([...d.depth().values()], [0, 0, 0], 'nothing left queued')

  failing.mode = 'ok'
  t.ok(requestDeadLetterRetry(dir, hooks.failing.id))
  await pollUntil(async () => failing.delivered().size === 3, 20000, 'the retried dead letters delivered')
  await pollUntil(async () => readDeadLetters(dir, hooks.failing.id).length === 0, 5000, 'the dead letters gone')
  t.equal(readDeadLetters(dir, hooks.slow.id).length, 3, 'another webhook keeps its own')
  checkRequests(t, failing, hooks.failing.id, SECRET)
})

t.test('filters by type and rule, a replay makes no second delivery, a deleted webhook drops its queue', async t => {
  const dir = t.testdir()
  const all = await startReceiver(t)
  const speed = await startReceiver(t)
  const rule = await startReceiver(t)
  const doomed = await startReceiver(t, { mode: 'fail' })
  const hooks = {
    all: registerWebhook(dir, { url: all.url }),
    speed: registerWebhook(dir, { url: speed.url, types: ['overspeed'] }),
    rule: registerWebhook(dir, { url: rule.url, rule_ids: ['r1'], types: ['geofence_exit'] })
  }
  t.match(hooks.all.secret, /^whsec_/, 'a secret generated')
  const { d } = await open(t, dir)
  const sent: Alert[] = [
    { id: 'f-1', type: 'overspeed', vehicle_id: 'v1', ts: '2026-12-01T00:00:00.000Z', rule_id: 'r1' },
    { id: 'f-2', type: 'geofence_exit', vehicle_id: 'v1', ts: '2026-12-01T00:00:01.000Z', rule_id: 'r1' },
    { id: 'f-3', type: 'geofence_exit', vehicle_id: 'v2', ts: '2026-12-01T00:00:02.000Z', rule_id: 'r2' },
    { id: 'f-4', type: 'geofence_exit', vehicle_id: 'v2', ts: '2026-12-01T00:00:03.000Z' }
  ]
  await d.enqueue(sent)
  await pollUntil(async () => all.delivered().size === 4 && speed.delivered().size === 1 && rule.delivered().size === 1, 20000, 'the filtered deliveries')
  t.same([...speed.delivered()], ['f-1'])
  t.same([...rule.delivered()], ['f-2'])
  checkRequests(t, all, hooks.all.id, hooks.all.secret)

  // registered while the delivery runs: picked up from webhooks.jsonl
  const late = registerWebhook(dir, { url: doomed.url })
  await d.enqueue(alerts('g', 5))
  await d.enqueue(alerts('g', 5))
  t.equal(d.depth().get(late.id), 5, 'an alert still queued is not queued twice')
  await pollUntil(async () => doomed.requests.length >= 5, 20000, 'attempts on the failing receiver')
  t.ok(deleteWebhook(dir, late.id))
  await pollUntil(async () => !d.depth().has(late.id), 5000, 'the webhook dropped')
  t.notOk(existsSync(webhookQueueDir(dir, late.id)), 'its queue removed')
  t.notOk(deleteWebhook(dir, late.id), 'deleted once')
})

t.test('an alert that breaks the contract queues nothing of its batch; a closed delivery refuses', async t => {
  const dir = t.testdir()
  const r = await startReceiver(t)
  const hook = registerWebhook(dir, { url: r.url })
  const { d } = await open(t, dir)
  const good = alerts('h', 2)
  for (const bad of [{ type: 'overspeed', vehicle_id: 'v1', ts: '2026-12-01T00:00:00Z' }, { ...good[0], id: 'h-x', ts: 'yesterday' }, { ...good[0], id: 'h-y', vehicle_id: 'no spaces' }, null]) {
    await t.rejects(d.enqueue([...good, bad as unknown as Alert]), { code: 'GW_ERR_BAD_ALERT' })
  }
  t.equal(d.depth().get(hook.id), 0, 'nothing queued')
  await d.close()
  await t.rejects(d.enqueue(good), { code: 'GW_ERR_WEBHOOKS_CLOSED' })
})

t.test('no more attempts in flight at once than the concurrency bound', async t => {
  const dir = t.testdir()
  const r = await startReceiver(t, { mode: 'slow', slowMs: 50 })
  const hook = registerWebhook(dir, { url: r.url })
  const { d } = await open(t, dir, { concurrency: 3 })
  await d.enqueue(alerts('m', 30))
  await pollUntil(async () => d.depth().get(hook.id) === 0, 30000, 'every delivery')
  t.equal(r.delivered().size, 30)
  t.ok(r.maxOpen <= 3, `at most 3 open at the receiver (saw ${r.maxOpen})`)
})
