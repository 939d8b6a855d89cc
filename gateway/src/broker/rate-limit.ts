// Per-vehicle token bucket in readings per second. Over budget, a vehicle is
// throttled, never dropped: the wait is applied before its publish is
// acknowledged, and Aedes reads nothing more from that client meanwhile, so
// TCP backpressure slows the device down.
//
// A bucket outlives its session: a vehicle that reconnects (here, or to
// another worker or node, which receive the bucket with the takeover) keeps
// its debt. Buckets that have refilled are as good as none and are swept.
export interface RateLimiter {
  /** Takes n readings from the vehicle's budget; returns how long to wait, ms (0: none). */
  take: (vehicleId: string, n: number) => number
  /** The vehicle's budget now, or null when it is full (nothing to hand over). */
  budget: (vehicleId: string) => number | null
  /**
   * Budget a vehicle spent elsewhere (another worker or node held its session
   * and handed over `tokens`): charged on top of what it spent here since.
   */
  absorb: (vehicleId: string, tokens: number) => void
  /** Buckets kept (full ones are swept now and then). */
  size: () => number
}

export const BURST_SECONDS = 2
const SWEEP_MS = 10000

export function createRateLimiter (perSecond: number, now: () => number = Date.now): RateLimiter {
  const capacity = perSecond * BURST_SECONDS
  const buckets = new Map<string, { tokens: number, at: number }>()
  let swept = now()

  /** The vehicle's bucket refilled up to `t`. */
  function refill (vehicleId: string, t: number): { tokens: number, at: number } {
    let b = buckets.get(vehicleId)
    if (!b) { b = { tokens: capacity, at: t }; buckets.set(vehicleId, b) }
    b.tokens = Math.min(capacity, b.tokens + (t - b.at) / 1000 * perSecond)
    b.at = t
    return b
  }

  function sweep (t: number): void {
    swept = t
    for (const [id, b] of buckets) if (b.tokens + (t - b.at) / 1000 * perSecond >= capacity) buckets.delete(id)
  }

  return {
    take (vehicleId, n) {
      if (perSecond <= 0 || n <= 0) return 0
      const t = now()
      if (t - swept > SWEEP_MS) sweep(t)
      const b = refill(vehicleId, t)
      b.tokens -= n
      return b.tokens >= 0 ? 0 : Math.ceil(-b.tokens / perSecond * 1000)
    },
    budget (vehicleId) {
      if (perSecond <= 0 || !buckets.has(vehicleId)) return null
      const b = refill(vehicleId, now())
      return b.tokens >= capacity ? null : b.tokens
    },
    absorb (vehicleId, tokens) {
      if (perSecond <= 0 || !Number.isFinite(tokens)) return
      const b = refill(vehicleId, now())
      b.tokens -= capacity - Math.min(capacity, tokens)
    },
    size: () => buckets.size
  }
}
