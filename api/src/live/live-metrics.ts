// Prometheus metrics of the live feed, one registry per feed (tests build
// several apps in one process). Passed in from outside, like the gateway's
// metrics, so whoever serves /metrics (or a test) holds them.
import { Counter, Gauge, Registry } from 'prom-client'

export function createLiveMetrics () {
  const registry = new Registry()
  const r = { registers: [registry] }
  return {
    registry,
    clients: new Gauge({ name: 'fleetgate_live_clients', help: 'Open live-feed WebSocket connections', ...r }),
    subscriptions: new Gauge({ name: 'fleetgate_live_subscriptions', help: 'Live-feed connections with an active subscription', ...r }),
    messagesSent: new Counter({ name: 'fleetgate_live_messages_sent_total', help: 'WebSocket messages sent, by type', labelNames: ['type'], ...r }),
    positionsSent: new Counter({ name: 'fleetgate_live_positions_sent_total', help: 'Positions sent (in snapshot and positions messages)', ...r }),
    positionsConflated: new Counter({ name: 'fleetgate_live_positions_conflated_total', help: 'Positions replaced by a newer one of the same vehicle before they were sent', ...r }),
    clientsClosed: new Counter({ name: 'fleetgate_live_clients_closed_total', help: 'Connections closed by the server, by reason (slow, dead_peer, shutdown)', labelNames: ['reason'], ...r }),
    authFailures: new Counter({ name: 'fleetgate_live_auth_failures_total', help: 'Upgrades refused for a missing or wrong API key', ...r }),
    maxBufferedBytes: new Gauge({ name: 'fleetgate_live_max_client_buffered_bytes', help: 'Largest send buffer of any live client at the last tick', ...r }),
    queuedPositions: new Gauge({ name: 'fleetgate_live_queued_positions', help: 'Positions waiting to be sent, all clients, at the last tick', ...r })
  }
}

export type LiveMetrics = ReturnType<typeof createLiveMetrics>

/** Current value of a counter or gauge (with labels: that series). */
export async function metricValue (m: Counter | Gauge, labels: Record<string, string> = {}): Promise<number> {
  const v = (await m.get()).values.find(x => Object.entries(labels).every(([k, val]) => x.labels[k] === val))
  return v?.value ?? 0
}
