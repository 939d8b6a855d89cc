// One HTTP attempt of a webhook delivery: a POST of the alert as JSON, signed,
// with an idempotency key that is the same at every attempt of the alert, and
// a bound on the whole exchange.
import type { WebhookAlert as Alert } from '../../../schemas/types.js'
import type { StoredWebhook } from './webhook-registry.js'
import { SIGNATURE_HEADER, signWebhookBody } from './webhook-signature.js'

export type AttemptOutcome = { ok: true, status: number } | { ok: false, error: string }

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>

/** The body of a delivery: the same bytes at every attempt (only the signature's timestamp changes). */
export function deliveryBody (hook: Pick<StoredWebhook, 'id'>, alert: Alert): string {
  return JSON.stringify({ webhook_id: hook.id, alert })
}

/** `<alert id>:<webhook id>`: a receiver that stores it can drop a redelivery. */
export function idempotencyKey (hook: Pick<StoredWebhook, 'id'>, alert: Alert): string {
  return `${alert.id}:${hook.id}`
}

function describe (err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout after ${timeoutMs} ms`
  const e = err as { name?: string, message?: string, cause?: { code?: string, message?: string } }
  const code = e.cause?.code
  if (typeof code === 'string') return `connection error: ${code}`
  return `request error: ${(e.cause?.message ?? e.message ?? String(err)).slice(0, 200)}`
}

export async function attemptDelivery (fetchFn: FetchLike, hook: StoredWebhook, alert: Alert, attempt: number, timeoutMs: number, stop: AbortSignal): Promise<AttemptOutcome> {
  const body = deliveryBody(hook, alert)
  const timeout = AbortSignal.timeout(timeoutMs)
  try {
    const res = await fetchFn(hook.url, {
      method: 'POST',
      // a 3xx is a failure: following it would send alerts where nobody registered
      redirect: 'manual',
      signal: AbortSignal.any([timeout, stop]),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'fleetgate-webhooks',
        'idempotency-key': idempotencyKey(hook, alert),
        [SIGNATURE_HEADER]: signWebhookBody(hook.secret, body),
        'fleetgate-webhook-id': hook.id,
        'fleetgate-attempt': String(attempt)
      },
      body
    })
    // the answer's body means nothing here, and a receiver could make it huge
    await res.body?.cancel().catch(() => {})
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status }
    return { ok: false, error: `http ${res.status}` }
  } catch (err) {
    return { ok: false, error: describe(err, timeout.aborted && !stop.aborted, timeoutMs) }
  }
}
