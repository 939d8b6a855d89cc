// Prometheus metrics of the live feed, one registry per plugin instance (tests
// build several apps in one process); the api's /metrics can merge it.
import { Counter, Gauge, Registry } from 'prom-client'

export function createLiveMetrics (state: { clients: () => number, subscriptions: () => number }) {
  const registry = new Registry()
  const r = { registers: [registry] }
  return {
    registry,
    clients: new Gauge({ name: 'fleetgate_live_clients', help: 'Open live-feed WebSocket connections', ...r, collect () { this.set(state.clients()) } }),
    subscriptions: new Gauge({ name: 'fleetgate_live_subscriptions', help: 'Live-feed connections with an active subscription', ...r, collect () { this.set(state.subscriptions()) } }),
    messagesSent: new Counter({ name: 'fleetgate_live_messages_sent_total', help: 'WebSocket messages sent, by type', labelNames: ['type'], ...r }),
    positionsSent: new Counter({ name: 'fleetgate_live_positions_sent_total', help: 'Positions sent (in snapshot and positions messages)', ...r }),
    positionsConflated: new Counter({ name: 'fleetgate_live_positions_conflated_total', help: 'Positions replaced by a newer one of the same vehicle before they were sent', ...r }),
    clientsClosed: new Counter({ name: 'fleetgate_live_clients_closed_total', help: 'Connections closed by the server, by reason (slow, dead_peer, shutdown)', labelNames: ['reason'], ...r }),
    authFailures: new Counter({ name: 'fleetgate_live_auth_failures_total', help: 'Upgrades refused for a missing or wrong API key', ...r })
  }
}

export type LiveMetrics = ReturnType<typeof createLiveMetrics>
