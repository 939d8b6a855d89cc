// Run by webhook-delivery.test.ts and killed there with SIGKILL: enqueues
// alerts in batches and prints the ids of each batch once enqueue resolved
// (durable). Bounded: after 100 batches it waits for the kill, then closes
// should the kill never come.
import { createWebhookDelivery } from '../../src/webhooks/webhook-delivery.js'
import { quietLogger } from '../../../test/helper.js'

const dir = process.argv[2] as string
const d = await createWebhookDelivery({ dir, log: quietLogger(), timeoutMs: 1500, backoffMs: 10, backoffMaxMs: 80 })
for (let batch = 0; batch < 100; batch++) {
  const alerts = Array.from({ length: 10 }, (_, i) => ({ id: `k-${batch}-${i}`, type: 'overspeed', vehicle_id: 'v9', ts: new Date().toISOString(), data: { batch } }))
  await d.enqueue(alerts)
  process.stdout.write(`acked ${alerts.map(a => a.id).join(',')}\n`)
}
await new Promise(resolve => setTimeout(resolve, 60000))
await d.close()
