// Per-vehicle token bucket in readings per second. Over budget, a vehicle is
// throttled, never dropped: the wait is applied before its publish is
// acknowledged, and Aedes reads nothing more from that client meanwhile, so
// TCP backpressure slows the device down.
export interface RateLimiter {
  /** Takes n readings from the vehicle's budget; returns how long to wait, ms (0: none). */
  take: (vehicleId: string, n: number) => number
  forget: (vehicleId: string) => void
}

export const BURST_SECONDS = 2

export function createRateLimiter (perSecond: number, now: () => number = Date.now): RateLimiter {
  const capacity = perSecond * BURST_SECONDS
  const buckets = new Map<string, { tokens: number, at: number }>()
  return {
    take (vehicleId, n) {
      if (perSecond <= 0 || n <= 0) return 0
      const t = now()
      let b = buckets.get(vehicleId)
      if (!b) { b = { tokens: capacity, at: t }; buckets.set(vehicleId, b) }
      b.tokens = Math.min(capacity, b.tokens + (t - b.at) / 1000 * perSecond)
      b.at = t
      b.tokens -= n
      return b.tokens >= 0 ? 0 : Math.ceil(-b.tokens / perSecond * 1000)
    },
    forget (vehicleId) { buckets.delete(vehicleId) }
  }
}
