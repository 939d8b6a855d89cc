// Webhook delivery rate: alerts enqueued (fsynced) and delivered through
// gateway/src/webhooks/ to a local receiver that answers 204, against its
// ceiling measured in the same run: the same signed POSTs sent by bare fetch
// with the same concurrency and nothing durable. Also the enqueue rate, one
// alert per call (one fsync each) and 100 per call. Bounded by count and by a
// deadline; loopback only.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import type { WebhookAlert as Alert } from '../schemas/types.js'
import { createWebhookDelivery } from '../gateway/src/webhooks/webhook-delivery.js'
import { deliveryBody, idempotencyKey } from '../gateway/src/webhooks/webhook-attempt.js'
import { registerWebhook } from '../gateway/src/webhooks/webhook-registry.js'
import { signWebhookBody } from '../gateway/src/webhooks/webhook-signature.js'

export interface WebhooksResult {
  alerts: number
  concurrency: number
  deliveredPerS: number
  /** bare fetch of the same requests, same concurrency */
  ceilingPerS: number
  ratioToCeiling: number
  enqueuePerS: { single: number, batch100: number }
}

function makeAlerts (prefix: string, n: number): Alert[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'geofence_enter', vehicle_id: `v${i % 500}`, ts: new Date(Date.UTC(2026, 11, 1) + i).toISOString(), rule_id: 'r1', geofence_id: 'depot', data: { speed_kmh: 42 } }))
}

async function until (check: () => boolean, deadline: number, what: string): Promise<void> {
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`webhooks bench: ${what} not done in time`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

export async function runWebhooks ({ alerts = 5000, concurrency = 8, timeoutS = 120 } = {}): Promise<WebhooksResult> {
  let answered = 0
  const server = createServer((req, res) => { req.resume(); req.on('end', () => { answered++; res.writeHead(204).end() }) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  const dir = mkdtempSync(join(tmpdir(), 'fleetgate-webhooks-bench-'))
  const log = pino({ level: 'silent' })
  try {
    const hook = registerWebhook(dir, { url })
    const deadline = Date.now() + timeoutS * 1000

    // ceiling: the same requests, no queue, no disk
    async function bare (list: Alert[]): Promise<number> {
      let next = 0
      const t0 = performance.now()
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < list.length && Date.now() < deadline) {
          const a = list[next++] as Alert
          const body = deliveryBody(hook, a)
          const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey(hook, a), 'fleetgate-signature': signWebhookBody(hook.secret, body) } })
          await res.arrayBuffer()
        }
      }))
      return list.length / ((performance.now() - t0) / 1000)
    }
    await bare(makeAlerts('pw', 200))
    const ceilingPerS = await bare(makeAlerts('p', alerts))

    const d = await createWebhookDelivery({ dir, log, concurrency })
    try {
      // warm-up, not counted
      await d.enqueue(makeAlerts('w', 200))
      await until(() => d.depth().get(hook.id) === 0, deadline, 'warm-up')
      const list = makeAlerts('d', alerts)
      const t1 = performance.now()
      for (let i = 0; i < list.length; i += 100) await d.enqueue(list.slice(i, i + 100))
      const batchS = (performance.now() - t1) / 1000
      await until(() => d.depth().get(hook.id) === 0, deadline, 'delivery')
      const deliveredPerS = alerts / ((performance.now() - t1) / 1000)

      const singles = makeAlerts('s', Math.min(500, alerts))
      const t2 = performance.now()
      for (const a of singles) await d.enqueue([a])
      const singleS = (performance.now() - t2) / 1000
      await until(() => d.depth().get(hook.id) === 0, deadline, 'single deliveries')
      // at least once: never fewer answers than requests made
      if (answered < alerts * 2 + 400 + singles.length) throw new Error(`webhooks bench: ${answered} requests answered, fewer than sent`)
      return {
        alerts,
        concurrency,
        deliveredPerS: Math.round(deliveredPerS),
        ceilingPerS: Math.round(ceilingPerS),
        ratioToCeiling: Math.round(deliveredPerS / ceilingPerS * 100) / 100,
        enqueuePerS: { single: Math.round(singles.length / singleS), batch100: Math.round(alerts / batchS) }
      }
    } finally {
      await d.close()
    }
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick')
  console.log(JSON.stringify(await runWebhooks(quick ? { alerts: 1000 } : {}), null, 2))
}
