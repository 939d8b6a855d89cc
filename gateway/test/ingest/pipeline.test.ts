// The pipeline's last line of defence: a payload whose processing throws is
// quarantined as `unprocessable` and counted, and the publish still resolves.
import t from 'tap'
import { createPipeline } from '../../src/ingest/pipeline.js'
import { createToRows, type ToRows } from '../../src/ingest/to-rows.js'
import { createValidators } from '../../src/ingest/validate.js'
import { createFastIlpEncoder } from '../../src/questdb/ilp-fast-encoder.js'
import { createGatewayMetrics } from '../../src/metrics.js'
import { createLocalLiveBus } from '../../../lib/live-bus.js'
import type { LiveMessage } from '../../../schemas/live.js'

t.test('a throw while judging a payload becomes an unprocessable rejection', async t => {
  let now = Date.now() * 1000
  const real = createToRows(createValidators(), { maxPayloadBytes: 1 << 20, maxBatch: 1000, retentionDays: 30 }, () => ++now)
  // a defect stand-in: throws for one payload, as a RangeError from the runtime would
  const toRows = Object.assign((vehicleId: string, kind: 'telemetry' | 'events' | 'status', topic: string, payload: Buffer) => {
    if (payload.toString() === 'boom') throw new RangeError('Maximum call stack size exceeded')
    return real(vehicleId, kind, topic, payload)
  }, { reject: real.reject }) as ToRows
  const chunks: Buffer[] = []
  const metrics = createGatewayMetrics()
  const pipeline = createPipeline({ toRows, encoder: createFastIlpEncoder({ protocolVersion: 2 }), sink: { write: async c => { chunks.push(c) } }, live: createLocalLiveBus(), metrics })
  const outcome = await pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', Buffer.from('boom'))
  t.same(outcome.rejections.map(r => [r.reason, r.detail]), [['unprocessable', 'could not be processed: Maximum call stack size exceeded']], 'quarantined with its reason')
  t.match(Buffer.concat(chunks).toString('latin1'), /^rejections,vehicle_id=v1,reason=unprocessable /m, 'and written as a rejection row')
  t.match(await metrics.registry.getSingleMetricAsString('fleetgate_ingest_errors_total'), /fleetgate_ingest_errors_total 1$/m, 'counted')
  const ok = await pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', Buffer.from(JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 1 })))
  t.equal(ok.readings, 1, 'the next payload goes through as usual')
})

t.test('an accepted reading is written once and published live; a rejected one only quarantined', async t => {
  let now = Date.now() * 1000
  const toRows = createToRows(createValidators(), { maxPayloadBytes: 1 << 20, maxBatch: 1000, retentionDays: 30 }, () => ++now)
  const chunks: Buffer[] = []
  const live = createLocalLiveBus()
  const seen: LiveMessage[] = []
  live.subscribe(m => seen.push(m))
  const pipeline = createPipeline({ toRows, encoder: createFastIlpEncoder({ protocolVersion: 1 }), sink: { write: async c => { chunks.push(c) } }, live, metrics: createGatewayMetrics() })
  const ts = new Date().toISOString()
  const ok = await pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', Buffer.from(JSON.stringify([{ ts, lat: 1.5, lon: 2.5, speed_kmh: 40 }, { ts, lat: 91, lon: 0 }])))
  t.equal(ok.readings, 1, 'one reading accepted')
  t.same(ok.rejections.map(r => r.reason), ['schema'], 'one quarantined')
  const text = Buffer.concat(chunks).toString()
  t.match(text, /^readings,vehicle_id=v1 lat=1\.5,lon=2\.5,speed_kmh=40,received_at=\d+t \d+$/m, 'the reading as one ILP line')
  t.match(text, /^rejections,vehicle_id=v1,reason=schema /m, 'the rejection as one')
  t.equal(seen.length, 1, 'one live message')
  t.match(seen[0], { kind: 'telemetry', vehicleId: 'v1', items: [{ vehicle_id: 'v1', lat: 1.5, lon: 2.5, speed_kmh: 40 }] }, 'the accepted reading only')
})
