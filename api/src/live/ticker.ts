// The feed's clock: every tick flushes the clients whose max_hz (or
// conflation) is due and samples the backlog gauges. Positions of clients
// without max_hz go out at the end of their turn (wake), not here.
import type { LiveClient } from './live-client.js'
import type { LiveMetrics } from './live-metrics.js'

export const TICK_MS = 20

/** Starts the ticker over a live set of clients; returns its stop. */
export function startTicker (clients: ReadonlySet<LiveClient>, metrics: LiveMetrics, tickMs = TICK_MS): () => void {
  const timer = setInterval(() => {
    const now = Date.now()
    let maxBuffered = 0
    let queued = 0
    for (const c of clients) {
      c.flush(now)
      const q = c.queued()
      if (q.bufferedAmount > maxBuffered) maxBuffered = q.bufferedAmount
      queued += q.queue + q.pending
    }
    metrics.maxBufferedBytes.set(maxBuffered)
    metrics.queuedPositions.set(queued)
  }, tickMs)
  return () => clearInterval(timer)
}
