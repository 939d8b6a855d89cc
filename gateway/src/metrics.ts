// Prometheus metrics of the gateway, one registry per gateway instance (tests
// build several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export function createGatewayMetrics (opts: { defaults?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'fleetgate_gateway_' })
  const r = { registers: [registry] }
  return {
    registry,
    refused: new Counter({ name: 'fleetgate_mqtt_refused_total', help: 'Connections and publishes refused, by reason', labelNames: ['reason'], ...r }),
    received: new Counter({ name: 'fleetgate_readings_received_total', help: 'Readings and events received (items, after batch split)', labelNames: ['kind'], ...r }),
    accepted: new Counter({ name: 'fleetgate_readings_accepted_total', help: 'Items accepted, by kind', labelNames: ['kind'], ...r }),
    rejected: new Counter({ name: 'fleetgate_readings_rejected_total', help: 'Items quarantined, by reason', labelNames: ['reason'], ...r }),
    ilpBatches: new Counter({ name: 'fleetgate_ilp_batches_total', help: 'ILP requests to QuestDB, by outcome', labelNames: ['outcome'], ...r }),
    ilpBytes: new Counter({ name: 'fleetgate_ilp_bytes_total', help: 'ILP bytes confirmed by QuestDB', ...r }),
    ilpFlushSeconds: new Histogram({ name: 'fleetgate_ilp_flush_seconds', help: 'ILP request latency', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], ...r }),
    ingestErrors: new Counter({ name: 'fleetgate_ingest_errors_total', help: 'Payloads whose processing threw, quarantined as unprocessable', ...r }),
    throttled: new Counter({ name: 'fleetgate_throttled_publishes_total', help: 'Publishes delayed because their vehicle was over DEVICE_RATE_LIMIT', ...r }),
    questdbErrors: new Counter({ name: 'fleetgate_questdb_errors_total', help: 'Failed QuestDB requests', ...r }),
    pubackSeconds: new Histogram({ name: 'fleetgate_puback_wait_seconds', help: 'Time a QoS 1 publish waited for durability before PUBACK', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30], ...r }),
    spoolWriteSeconds: new Histogram({ name: 'fleetgate_spool_write_seconds', help: 'Duration of one spool group write (O_DSYNC, on the event loop: it is blocked meanwhile)', buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], ...r }),
    questdbRestarts: new Counter({ name: 'fleetgate_questdb_restarts_total', help: 'Restarts of the managed QuestDB after its JVM exited, by outcome', labelNames: ['outcome'], ...r }),
    /** QuestDB's state as the gateway knows it, read at scrape time. */
    observeQuestDb (up: () => boolean) {
      return new Gauge({ name: 'fleetgate_questdb_up', help: 'Whether QuestDB is reachable as far as the gateway knows: tables made, last write accepted, a managed JVM running', ...r, collect () { this.set(up() ? 1 : 0) } })
    },
    /** Connected MQTT clients, counted at scrape time. */
    observeConnections (count: () => number) {
      return new Gauge({ name: 'fleetgate_mqtt_connected_clients', help: 'Connected MQTT clients (vehicles and internal): open connections with an accepted session', ...r, collect () { this.set(count()) } })
    },
    /** Spool gauges read at scrape time. */
    observeSpool (stats: () => { unconfirmedBytes: number, oldestUnconfirmedS: number, segments: number }) {
      return [
        new Gauge({ name: 'fleetgate_spool_unconfirmed_bytes', help: 'Spool bytes not yet confirmed by QuestDB', ...r, collect () { this.set(stats().unconfirmedBytes) } }),
        new Gauge({ name: 'fleetgate_spool_oldest_unconfirmed_seconds', help: 'Age of the oldest reading not yet confirmed by QuestDB', ...r, collect () { this.set(stats().oldestUnconfirmedS) } }),
        new Gauge({ name: 'fleetgate_spool_segments', help: 'Spool segment files', ...r, collect () { this.set(stats().segments) } })
      ]
    }
  }
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
