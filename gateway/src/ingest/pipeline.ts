// Accepted payload -> rows -> ILP -> durable sink, and accepted rows -> live bus.
// `ingest` resolves when its rows are durable in the sense of ACK_MODE: that is
// the moment a QoS 1 PUBACK may be sent.
import type { TopicKind } from '../../../schemas/topics.js'
import type { LiveBus } from '../../../lib/live-bus.js'
import type { Position, LiveEvent } from '../../../schemas/live.js'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { Rows, RejectionRow, ToRows } from './to-rows.js'
import { emptyRows } from './to-rows.js'
import type { GatewayMetrics } from '../metrics.js'
import type { AlertRow } from '../geofences/geofence-evaluator.js'
import type { Alert } from '../../../schemas/types.js'
import { alertLines } from '../geofences/alert-lines.js'
import { toAlert } from '../geofences/alert-id.js'

/** Rows to ILP lines; the gateway's is questdb/ilp-fast-encoder.ts. */
export interface IlpEncoder {
  /** ILP lines for all rows, or null when there are none. */
  encode: (rows: Rows) => Buffer | null
}

export interface DurableSink {
  write: (chunk: Buffer) => Promise<unknown>
}

/** What became of one payload: how many readings and events were accepted, and what was quarantined. */
export interface Outcome {
  readings: number
  events: number
  rejections: RejectionRow[]
}

export interface Pipeline {
  ingest: (vehicleId: string, kind: TopicKind, topic: string, payload: Buffer) => Promise<Outcome>
  quarantine: (row: RejectionRow) => Promise<void>
}

/** The alerts a payload's accepted readings raise (geofences); must not throw. */
export type AlertsOf = (readings: Rows['readings']) => AlertRow[]

/** Where raised alerts are made durable for delivery (webhooks); the publish that raised them waits for it. */
export type AlertSink = (alerts: Alert[]) => Promise<void>

export function createPipeline (deps: { toRows: ToRows, encoder: IlpEncoder, sink: DurableSink, live: LiveBus, metrics: GatewayMetrics, alertsOf?: AlertsOf, alertSink?: AlertSink }): Pipeline {
  const { toRows, encoder, sink, live, metrics, alertsOf } = deps

  function publishLive (rows: Rows): void {
    if (rows.readings.length > 0) {
      const first = rows.readings[0] as Rows['readings'][number]
      // vehicle_id first: `{ ...reading, vehicle_id }` clones the parsed
      // reading and then adds a property, and V8 gave every such object a
      // hidden class of its own (a Map and a DescriptorArray: 884 bytes per
      // position against 444). The api keeps each vehicle's latest position
      // for one reporting interval, long enough to reach the old generation.
      const items: Position[] = rows.readings.map(r => ({ vehicle_id: r.vehicleId, ...r.reading, ts: microsToIso(r.tsUs) }))
      live.publish({ kind: 'telemetry', vehicleId: first.vehicleId, items })
    }
    if (rows.events.length > 0) {
      const first = rows.events[0] as Rows['events'][number]
      const items: LiveEvent[] = rows.events.map(r => ({ vehicle_id: r.vehicleId, ...r.event, ts: microsToIso(r.tsUs) }))
      live.publish({ kind: 'events', vehicleId: first.vehicleId, items })
    }
    for (const s of rows.status) {
      live.publish({ kind: 'status', vehicleId: s.vehicleId, items: [{ vehicle_id: s.vehicleId, ts: microsToIso(s.tsUs), online: s.online }] })
    }
  }

  // labelled children bound once: prom-client hashes a label object on every inc()
  const receivedBy = { telemetry: metrics.received.labels('telemetry'), events: metrics.received.labels('events'), status: metrics.received.labels('status') }
  const accepted = { telemetry: metrics.accepted.labels('telemetry'), events: metrics.accepted.labels('events'), status: metrics.accepted.labels('status') }

  function count (kind: TopicKind, rows: Rows): void {
    const n = rows.readings.length + rows.events.length + rows.status.length
    receivedBy[kind].inc(n + rows.rejections.length)
    if (rows.readings.length) accepted.telemetry.inc(rows.readings.length)
    if (rows.events.length) accepted.events.inc(rows.events.length)
    if (rows.status.length) accepted.status.inc(rows.status.length)
    for (const r of rows.rejections) metrics.rejected.inc({ reason: r.reason })
  }

  /**
   * Rows of a payload; should judging it throw (a defect, or a limit of the
   * runtime), the payload is quarantined as `unprocessable` rather than
   * failing the publish, which a device would resend for ever.
   */
  function rowsOf (vehicleId: string, kind: TopicKind, topic: string, payload: Buffer): Rows {
    try {
      return toRows(vehicleId, kind, topic, payload)
    } catch (err) {
      metrics.ingestErrors.inc()
      const rows = emptyRows()
      rows.rejections.push(toRows.reject(vehicleId, topic, 'unprocessable', `could not be processed: ${String((err as Error)?.message).slice(0, 200)}`, payload))
      return rows
    }
  }

  return {
    ingest (vehicleId, kind, topic, payload) {
      try {
        const rows = rowsOf(vehicleId, kind, topic, payload)
        count(kind, rows)
        const alerts = alertsOf !== undefined && rows.readings.length > 0 ? alertsOf(rows.readings) : []
        // alerts go in the readings' spool append: durable with them, or not at all
        const chunk = alerts.length > 0 ? withAlerts(encoder.encode(rows), alerts) : encoder.encode(rows)
        let durable: Promise<unknown> = chunk ? sink.write(chunk) : Promise.resolve()
        publishLive(rows)
        if (alerts.length > 0) {
          const items = alerts.map(toAlert)
          live.publish({ kind: 'alert', vehicleId: (alerts[0] as AlertRow).vehicleId, items })
          // acknowledged only once the deliveries are queued too: a crash between loses no webhook
          if (deps.alertSink) durable = Promise.all([durable, deps.alertSink(items)])
        }
        // the rows are not kept while we wait: a QoS 1 publish waits here for
        // its PUBACK, long enough for the parsed payload to reach the old
        // generation if it were still referenced
        const outcome: Outcome = { readings: rows.readings.length, events: rows.events.length, rejections: rows.rejections }
        return durable.then(() => outcome)
      } catch (err) {
        return Promise.reject(err)
      }
    },
    async quarantine (row) {
      metrics.rejected.inc({ reason: row.reason })
      const rows = emptyRows()
      rows.rejections.push(row)
      const chunk = encoder.encode(rows)
      if (chunk) await sink.write(chunk)
    }
  }
}

function withAlerts (chunk: Buffer | null, alerts: AlertRow[]): Buffer {
  const lines = Buffer.from(alertLines(alerts))
  return chunk ? Buffer.concat([chunk, lines]) : lines
}
