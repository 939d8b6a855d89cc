// The deliveries of one webhook: at most `concurrency` attempts in flight,
// oldest first. A failed delivery waits an exponential backoff with jitter
// before its next attempt, and is retried until it is `maxAgeMs` old, when it
// becomes a dead letter with its last error. While the receiver fails, the
// webhook itself backs off too: one attempt at a time, each after a backoff
// of its own, until one succeeds; so a receiver that is down gets probes, not
// the whole backlog, and a long backlog costs no scan per delivery. Attempt
// counts live in memory: after a restart they start again, while a
// delivery's age (from queue.jsonl) goes on.
import type { Logger } from 'pino'
import { attemptDelivery, type FetchLike } from './webhook-attempt.js'
import type { QueuedDelivery, WebhookQueue } from './webhook-queue.js'
import type { StoredWebhook } from './webhook-registry.js'

export interface RetryPolicy {
  maxAgeMs: number
  timeoutMs: number
  concurrency: number
  backoffMs: number
  backoffMaxMs: number
}

export interface WorkerEvents {
  delivered: (hookId: string) => void
  failed: (hookId: string) => void
  dead: (hookId: string) => void
}

interface Attempts { count: number, nextAt: number, lastError: string, inFlight: boolean }

export interface WebhookWorker {
  queue: WebhookQueue
  /** Looks for deliveries due (after an enqueue). */
  pump: () => void
  /** Aborts what is in flight (it stays queued); `remove` also deletes the queue's folder. */
  close: (remove?: boolean) => Promise<void>
}

/** Delay before attempt `count + 1`: doubling from backoffMs, capped, with jitter over its upper half. */
export function backoffDelay (policy: Pick<RetryPolicy, 'backoffMs' | 'backoffMaxMs'>, count: number, random = Math.random()): number {
  const full = Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** Math.min(count - 1, 40))
  return Math.round(full / 2 + random * full / 2)
}

export function createWebhookWorker (hook: StoredWebhook, queue: WebhookQueue, policy: RetryPolicy, deps: { fetch: FetchLike, log: Logger, events: WorkerEvents }): WebhookWorker {
  const state = new Map<number, Attempts>()
  const stop = new AbortController()
  const inFlight = new Set<Promise<void>>()
  let timer: NodeJS.Timeout | null = null
  let timerAt = Infinity
  let closed = false
  // failures in a row of this webhook, and when it may be tried again
  let streak = 0
  let blockedUntil = 0
  let lastError = ''

  function attemptsOf (n: number): Attempts {
    let a = state.get(n)
    if (!a) { a = { count: 0, nextAt: 0, lastError: '', inFlight: false }; state.set(n, a) }
    return a
  }

  async function bury (e: QueuedDelivery, a: Attempts, now: number): Promise<void> {
    state.delete(e.n)
    const error = a.lastError || lastError
    deps.events.dead(hook.id)
    deps.log.warn({ webhook: hook.id, alert: e.alert.id, attempts: a.count, error }, 'webhook delivery dead-lettered')
    await queue.bury({ n: e.n, alert: e.alert, enq: e.enq, dead: now, attempts: a.count, error }).catch(err => {
      deps.log.error({ err, webhook: hook.id }, 'dead letter not written: retried at the next start')
    })
  }

  /** Buries every delivery past its age that no attempt holds: while the receiver is down, most are never tried. */
  async function sweep (now: number): Promise<void> {
    const expired: QueuedDelivery[] = []
    for (const e of queue.pending()) {
      if (e.enq + policy.maxAgeMs > now) break
      if (!state.get(e.n)?.inFlight) expired.push(e)
    }
    for (const e of expired) await bury(e, attemptsOf(e.n), now)
  }

  async function run (e: QueuedDelivery, a: Attempts): Promise<void> {
    a.count++
    const outcome = await attemptDelivery(deps.fetch, hook, e.alert, a.count, policy.timeoutMs, stop.signal)
    a.inFlight = false
    // a 2xx that arrived while closing still counts: the queue closes after the attempts in flight
    if (outcome.ok) {
      state.delete(e.n)
      queue.ack(e.n)
      streak = 0
      blockedUntil = 0
      deps.events.delivered(hook.id)
      return
    }
    // closing aborted it: the delivery stays queued for the next start
    if (closed) return
    a.lastError = lastError = outcome.error
    deps.events.failed(hook.id)
    const now = Date.now()
    streak++
    blockedUntil = now + backoffDelay(policy, streak)
    const expires = e.enq + policy.maxAgeMs
    if (now >= expires) await bury(e, a, now)
    // the last attempt is made when the delivery expires, not a backoff later
    else a.nextAt = Math.min(now + backoffDelay(policy, a.count), expires)
    await sweep(now)
  }

  function start (e: QueuedDelivery, a: Attempts): void {
    a.inFlight = true
    const p = run(e, a).catch(err => { a.inFlight = false; deps.log.error({ err, webhook: hook.id }, 'webhook attempt failed unexpectedly') })
      .finally(() => { inFlight.delete(p); pump() })
    inFlight.add(p)
  }

  function arm (at: number): void {
    if (at >= timerAt && timer) return
    if (timer) clearTimeout(timer)
    timerAt = at
    timer = setTimeout(() => { timer = null; timerAt = Infinity; pump() }, Math.max(0, at - Date.now()))
  }

  function pump (): void {
    if (closed) return
    const now = Date.now()
    if (now < blockedUntil) { arm(blockedUntil); return }
    // a failing receiver gets one attempt at a time until one succeeds
    const limit = streak > 0 ? 1 : policy.concurrency
    let soonest = Infinity
    for (const e of queue.pending()) {
      if (inFlight.size >= limit) return
      const a = attemptsOf(e.n)
      if (a.inFlight) continue
      if (a.nextAt > now) { soonest = Math.min(soonest, a.nextAt); continue }
      start(e, a)
    }
    if (soonest !== Infinity) arm(soonest)
  }

  return {
    queue,
    pump,
    async close (remove = false) {
      closed = true
      if (timer) clearTimeout(timer)
      stop.abort()
      await Promise.allSettled([...inFlight])
      if (remove) await queue.destroy()
      else await queue.close()
    }
  }
}
