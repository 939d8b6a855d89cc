// Pings every client each heartbeatMs [RFC 6455 5.5.2]; one that answered
// neither the previous ping nor with any message is closed as unresponsive.
import type { LiveClient } from './live-client.js'

/** Starts the heartbeat over a live set of clients; returns its stop. */
export function startHeartbeat (clients: ReadonlySet<LiveClient>, heartbeatMs: number): () => void {
  const timer = setInterval(() => {
    for (const c of clients) {
      if (c.closed || c.ws.readyState !== c.ws.OPEN) continue
      // behind: the ping waits behind unread data, and the stall rule decides
      if (!c.alive) { if (!c.behind) c.unresponsive(); continue }
      c.alive = false
      c.ws.ping()
    }
  }, heartbeatMs)
  return () => clearInterval(timer)
}
