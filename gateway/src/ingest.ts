// createIngest: validation, rows, the ILP encoder and the pipeline, wired once
// for both ways in: MQTT publishes to the gateway (lines to its spool) and
// readings POSTed to the api (lines straight to QuestDB). Both count their ILP
// requests in the same metrics.
import type { Logger } from 'pino'
import type { Config } from '../../schemas/config.js'
import { createLocalLiveBus, type LiveBus } from '../../lib/live-bus.js'
import { createValidators } from './ingest/validate.js'
import { createToRows, type ToRows } from './ingest/to-rows.js'
import { createMonotonicClock } from './ingest/clock.js'
import { createPipeline, type AlertSink, type AlertsOf, type DurableSink, type IlpEncoder, type Pipeline } from './ingest/pipeline.js'
import { createFastIlpEncoder } from './questdb/ilp-fast-encoder.js'
import { createIlpWriter } from './questdb/ilp-writer.js'
import type { IlpSenderOptions } from './questdb/ilp-sender.js'
import type { IlpProtocolVersion } from './questdb/tables.js'
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js'

export interface IngestDeps {
  log: Logger
  questdbHttpUrl: string
  /** Until useProtocol() says otherwise. */
  protocolVersion: IlpProtocolVersion
  /** Default: a registry of its own. */
  metrics?: GatewayMetrics
  /** Default: a bus nobody follows (readings posted to an api alone reach live maps through the gateway's stream only). */
  live?: LiveBus
  /**
   * Where encoded lines become durable (the gateway's spool). Without one, an
   * ILP writer straight to QuestDB: durable once QuestDB answered 2xx.
   */
  sink?: DurableSink
  /** The `origin` of status and rejection rows (see IlpEncoderOptions): this process, e.g. NODE_ID or NODE_ID/api. */
  origin: string
  /** Alerts raised by accepted readings (geofencing), spooled with them. */
  alertsOf?: AlertsOf
  /** Where raised alerts are queued for webhooks, before the publish is acknowledged. */
  alertSink?: AlertSink
}

export interface Ingest {
  pipeline: Pipeline
  toRows: ToRows
  metrics: GatewayMetrics
  /** Encode with this protocol from now on (QuestDB's /settings has answered). */
  useProtocol: (version: IlpProtocolVersion) => void
  /** Sends what its own writer holds for at most timeoutMs; with a sink given, nothing to do. */
  close: (timeoutMs: number) => Promise<void>
}

export function createIngest (config: Config, deps: IngestDeps): Ingest {
  const metrics = deps.metrics ?? createGatewayMetrics()
  // the hand-written encoder: byte-identical to the official client's on the
  // hostile corpus (gateway/test/questdb/ilp-fast-encoder.test.ts) and cheaper
  // per row (npm run bench -- encoder)
  const encoder = createSwitchableEncoder(deps.protocolVersion, deps.origin)
  const writer = deps.sink
    ? null
    : createIlpWriter({
      httpUrl: deps.questdbHttpUrl,
      log: deps.log,
      flushIntervalMs: config.ILP_FLUSH_INTERVAL_MS,
      maxBatchBytes: config.ILP_BATCH_MAX_BYTES,
      onFlush: countIlpFlush(metrics)
    })
  const toRows = createToRows(createValidators(), {
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    maxBatch: config.MAX_BATCH,
    retentionDays: config.RETENTION_DAYS
  }, createMonotonicClock())
  const sink = deps.sink ?? (writer as NonNullable<typeof writer>)
  const pipeline = createPipeline({ toRows, encoder, sink, live: deps.live ?? createLocalLiveBus(), metrics, ...(deps.alertsOf ? { alertsOf: deps.alertsOf } : {}), ...(deps.alertSink ? { alertSink: deps.alertSink } : {}) })
  return {
    pipeline,
    toRows,
    metrics,
    useProtocol: version => encoder.use(version),
    close: async timeoutMs => await writer?.close(timeoutMs)
  }
}

/** Counts one ILP request to QuestDB: the same series for the spool's sender and the api's writer. */
export function countIlpFlush (metrics: GatewayMetrics): NonNullable<IlpSenderOptions['onFlush']> {
  return ({ ok, bytes, ms }) => {
    metrics.ilpBatches.inc({ outcome: ok ? 'ok' : 'error' })
    metrics.ilpFlushSeconds.observe(ms / 1000)
    if (ok) metrics.ilpBytes.inc(bytes)
    else metrics.questdbErrors.inc()
  }
}

/** The hand-written encoder, whose protocol changes once QuestDB's /settings has answered. */
function createSwitchableEncoder (initial: IlpProtocolVersion, origin: string): IlpEncoder & { use: (version: IlpProtocolVersion) => void } {
  let current = createFastIlpEncoder({ protocolVersion: initial, origin })
  return {
    encode: rows => current.encode(rows),
    use (version) { current = createFastIlpEncoder({ protocolVersion: version, origin }) }
  }
}
