// Webhook delivery of alerts: enqueue(alerts) resolves once every delivery the
// alerts make (one per webhook that wants each) is fsynced in that webhook's
// queue, so the caller may acknowledge the reading that raised them; the
// workers then POST them at least once. The webhooks come from
// DATA_DIR/webhooks.jsonl (followed while running) and from the Redis
// registry stream (apply).
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Config } from '../../../schemas/config.js'
import type { WebhookAlert as Alert } from '../../../schemas/types.js'
import { unwatchFile, watchFile } from 'node:fs'
import alertSchema from '../../../schemas/alert.schema.json' with { type: 'json' }
import { GW_ERR_BAD_ALERT, GW_ERR_WEBHOOKS_CLOSED } from '../errors.js'
import type { FetchLike } from './webhook-attempt.js'
import { openWebhookQueue } from './webhook-queue.js'
import { followWebhooks, wants, webhooksFile, type StoredWebhook, type WebhookLine } from './webhook-registry.js'
import { createWebhookWorker, type RetryPolicy, type WebhookWorker } from './webhook-worker.js'

export interface WebhookDeliveryOptions extends Partial<RetryPolicy> {
  /** DATA_DIR: webhooks.jsonl is read there, the queues live in its webhooks/ folder. */
  dir: string
  log: Logger
  /** Where the metrics register (the gateway's metrics object, or anything with a registry). */
  metrics?: { registry: Registry }
  fetch?: FetchLike
  /** How often webhooks.jsonl is polled for changes. */
  pollMs?: number
  /** The gateway worker's index (GATEWAY_WORKERS): each worker keeps its own queues. */
  worker?: number
}

export interface WebhookDelivery {
  /** Resolves once the deliveries are durable on local disk. */
  enqueue: (alerts: Alert[]) => Promise<void>
  /** A webhooks.jsonl line of another node (the registry stream). */
  apply: (line: string) => void
  /** Deliveries waiting, per webhook id. */
  depth: () => Map<string, number>
  close: () => Promise<void>
}

/** The retry policy from WEBHOOK_* configuration. */
export function retryPolicyFrom (config: Pick<Config, 'WEBHOOK_MAX_AGE_S' | 'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_CONCURRENCY' | 'WEBHOOK_BACKOFF_MS' | 'WEBHOOK_BACKOFF_MAX_MS'>): RetryPolicy {
  return { maxAgeMs: config.WEBHOOK_MAX_AGE_S * 1000, timeoutMs: config.WEBHOOK_TIMEOUT_MS, concurrency: config.WEBHOOK_CONCURRENCY, backoffMs: config.WEBHOOK_BACKOFF_MS, backoffMaxMs: config.WEBHOOK_BACKOFF_MAX_MS }
}

// ajv-formats is CommonJS with a default export
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const isAlert = addFormats(new Ajv({ allErrors: false, strict: false })).compile<Alert>(alertSchema)

/** Throws GW_ERR_BAD_ALERT for the first alert that breaks the contract: a queued delivery must be deliverable. */
function checkAlerts (alerts: Alert[]): void {
  for (const a of alerts) {
    if (!isAlert(a)) {
      const e = isAlert.errors?.[0]
      throw new GW_ERR_BAD_ALERT(`alert ${JSON.stringify((a as { id?: unknown } | null)?.id ?? null)} does not match schemas/alert.schema.json: ${e?.instancePath ?? ''} ${e?.message ?? ''}`)
    }
  }
}

const DEFAULT_POLICY: RetryPolicy = { maxAgeMs: 86_400_000, timeoutMs: 10_000, concurrency: 4, backoffMs: 1000, backoffMaxMs: 600_000 }

function createWebhookMetrics (registry: Registry | undefined, workers: Map<string, WebhookWorker>) {
  const r = { registers: registry ? [registry] : [], labelNames: ['webhook'] as const }
  const gauges = registry
    ? [
        new Gauge({
          name: 'fleetgate_webhook_queue_depth',
          help: 'Webhook deliveries waiting (queued or between retries), per webhook',
          ...r,
          collect () { this.reset(); for (const [id, w] of workers) this.set({ webhook: id }, w.queue.size()) }
        }),
        new Gauge({
          name: 'fleetgate_webhook_oldest_pending_seconds',
          help: 'Age of the oldest webhook delivery not yet done, per webhook',
          ...r,
          collect () {
            this.reset()
            const now = Date.now()
            for (const [id, w] of workers) {
              const first = w.queue.pending().next()
              this.set({ webhook: id }, first.done === true ? 0 : (now - first.value.enq) / 1000)
            }
          }
        })
      ]
    : []
  return {
    delivered: new Counter({ name: 'fleetgate_webhook_delivered_total', help: 'Webhook deliveries answered 2xx', ...r }),
    failed: new Counter({ name: 'fleetgate_webhook_failed_attempts_total', help: 'Webhook delivery attempts that failed (non-2xx, timeout, connection error)', ...r }),
    dead: new Counter({ name: 'fleetgate_webhook_dead_lettered_total', help: 'Webhook deliveries given up after WEBHOOK_MAX_AGE_S', ...r }),
    gauges
  }
}

export async function createWebhookDelivery (opts: WebhookDeliveryOptions): Promise<WebhookDelivery> {
  const log = opts.log.child({ part: 'webhooks' })
  const policy: RetryPolicy = {
    maxAgeMs: opts.maxAgeMs ?? DEFAULT_POLICY.maxAgeMs,
    timeoutMs: opts.timeoutMs ?? DEFAULT_POLICY.timeoutMs,
    concurrency: opts.concurrency ?? DEFAULT_POLICY.concurrency,
    backoffMs: opts.backoffMs ?? DEFAULT_POLICY.backoffMs,
    backoffMaxMs: opts.backoffMaxMs ?? DEFAULT_POLICY.backoffMaxMs
  }
  const fetchFn: FetchLike = opts.fetch ?? (async (url, init) => await fetch(url, init))
  const follower = followWebhooks(opts.dir)
  const workers = new Map<string, WebhookWorker>()
  const metrics = createWebhookMetrics(opts.metrics?.registry, workers)
  const events = {
    delivered: (id: string) => metrics.delivered.inc({ webhook: id }),
    failed: (id: string) => metrics.failed.inc({ webhook: id }),
    dead: (id: string) => metrics.dead.inc({ webhook: id })
  }
  let closed = false
  // registry changes apply one after another: a delete waits for the open of its queue
  let changes: Promise<void> = Promise.resolve()

  async function start (hook: StoredWebhook): Promise<void> {
    const queue = await openWebhookQueue(opts.dir, hook.id, opts.worker ?? 0)
    const w = createWebhookWorker(hook, queue, policy, { fetch: fetchFn, log, events })
    workers.set(hook.id, w)
    // what was queued before a restart goes out now
    w.pump()
  }

  async function change (c: WebhookLine): Promise<void> {
    if (closed) return
    if (c.op === 'register') {
      await start(c)
    } else if (c.op === 'delete') {
      const w = workers.get(c.id)
      workers.delete(c.id)
      await w?.close(true)
      log.info({ webhook: c.id }, 'webhook deleted: its queue dropped')
    } else {
      const w = workers.get(c.id)
      if (!w) return
      const n = await w.queue.revive(Date.parse(c.at))
      if (n > 0) log.info({ webhook: c.id, deliveries: n }, 'dead letters re-queued')
      w.pump()
    }
  }

  function schedule (list: WebhookLine[]): Promise<void> {
    for (const c of list) {
      changes = changes.then(async () => await change(c)).catch(err => { log.error({ err, webhook: c.id }, 'webhook change not applied') })
    }
    return changes
  }

  const file = webhooksFile(opts.dir)
  const poll = (): void => { void schedule(follower.refresh()) }
  await schedule(follower.refresh())
  watchFile(file, { interval: opts.pollMs ?? 500, persistent: false }, poll)

  return {
    async enqueue (alerts) {
      if (closed) throw new GW_ERR_WEBHOOKS_CLOSED()
      checkAlerts(alerts)
      // a webhook registered a moment ago: its line may not have been polled yet
      await schedule(follower.refresh())
      const writes: Array<Promise<void>> = []
      for (const [id, w] of workers) {
        const hook = follower.hooks.get(id)
        if (!hook) continue
        const mine = alerts.filter(a => wants(hook, a))
        if (mine.length > 0) writes.push(w.queue.append(mine).then(() => w.pump()))
      }
      await Promise.all(writes)
    },
    apply (line) {
      const c = follower.apply(line)
      if (c) void schedule([c])
    },
    depth: () => new Map([...workers].map(([id, w]) => [id, w.queue.size()])),
    async close () {
      closed = true
      unwatchFile(file, poll)
      await changes
      await Promise.all([...workers.values()].map(async w => await w.close()))
      workers.clear()
    }
  }
}
