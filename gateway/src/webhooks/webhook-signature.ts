// The signature of a webhook delivery, as Stripe signs its events: an
// HMAC-SHA256 with the webhook's secret over `${t}.${body}`, sent as
// `Fleetgate-Signature: t=<unix seconds>,v1=<hex>`. The timestamp inside the
// signed text lets a receiver refuse a replayed request beyond a tolerance.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_HEADER = 'fleetgate-signature'

function mac (secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')
}

/** The header value for a body sent at `nowS` (unix seconds). */
export function signWebhookBody (secret: string, body: string, nowS = Math.floor(Date.now() / 1000)): string {
  return `t=${nowS},v1=${mac(secret, nowS, body)}`
}

/**
 * Whether the header signs the body with the secret, and was made within
 * `toleranceS` of `nowS`. What a receiver runs (docs/webhooks.md shows it
 * standalone).
 */
export function verifyWebhookSignature (header: string, secret: string, body: string, opts: { toleranceS?: number, nowS?: number } = {}): boolean {
  const parts = new Map<string, string[]>()
  for (const item of header.split(',')) {
    const at = item.indexOf('=')
    if (at <= 0) continue
    const k = item.slice(0, at).trim()
    parts.set(k, [...parts.get(k) ?? [], item.slice(at + 1).trim()])
  }
  const t = Number(parts.get('t')?.[0])
  if (!Number.isInteger(t)) return false
  const now = opts.nowS ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - t) > (opts.toleranceS ?? 300)) return false
  const want = Buffer.from(mac(secret, t, body), 'hex')
  // several v1 entries: a receiver accepts any (room for a secret rotation)
  return (parts.get('v1') ?? []).some(v => {
    const got = Buffer.from(v, 'hex')
    return got.length === want.length && timingSafeEqual(got, want)
  })
}
