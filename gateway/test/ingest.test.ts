// createIngest, the one ingest path of the gateway and of the api's POST:
// without a sink its lines go straight to QuestDB (here a real HTTP server
// that answers like QuestDB's /write), durable once it answered 2xx, counted
// in the ILP metrics; with a sink (the gateway's spool) they go there only.
import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '../../schemas/config.js'
import { createLocalLiveBus } from '../../lib/live-bus.js'
import { createIngest } from '../src/index.js'
import { quietLogger, tempDir } from '../../test/helper.js'

const reading = (): Buffer => Buffer.from(JSON.stringify({ ts: new Date().toISOString(), lat: 52.5, lon: 13.4, speed_kmh: 42.5 }))

async function fakeQuestDb (t: Test): Promise<{ url: string, bodies: Buffer[] }> {
  const bodies: Buffer[] = []
  const server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (b: Buffer) => parts.push(b))
    req.on('end', () => { bodies.push(Buffer.concat(parts)); res.statusCode = 204; res.end() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies }
}

t.test('without a sink: lines to QuestDB over ILP/HTTP, durable once it answered, counted', async t => {
  const qdb = await fakeQuestDb(t)
  const config = loadConfig({}, { DATA_DIR: tempDir(t), ILP_FLUSH_INTERVAL_MS: 5 })
  const ingest = createIngest(config, { log: quietLogger(), questdbHttpUrl: qdb.url, protocolVersion: 1, origin: 'test' })
  t.teardown(() => ingest.close(0))
  const outcome = await ingest.pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', reading())
  t.equal(outcome.readings, 1)
  t.equal(qdb.bodies.length, 1, 'QuestDB had the lines when ingest resolved')
  const text = (qdb.bodies[0] as Buffer).toString('latin1')
  t.match(text, /^readings,vehicle_id=v1 .*speed_kmh=42\.5,/m, 'protocol 1: doubles as text')
  t.match(await ingest.metrics.registry.getSingleMetricAsString('fleetgate_ilp_batches_total'), /fleetgate_ilp_batches_total\{outcome="ok"\} 1$/m)
  t.match(await ingest.metrics.registry.getSingleMetricAsString('fleetgate_ilp_bytes_total'), new RegExp(`fleetgate_ilp_bytes_total ${(qdb.bodies[0] as Buffer).length}$`, 'm'))

  ingest.useProtocol(2)
  await ingest.pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', reading())
  // [ILP protocol 2] a binary double is `==`, the type byte 16, then 8 bytes
  t.ok((qdb.bodies[1] as Buffer).toString('latin1').includes('speed_kmh==' + String.fromCharCode(16)), 'protocol 2 once told: doubles as binary')
})

t.test('with a sink: the lines go there and nowhere else', async t => {
  const qdb = await fakeQuestDb(t)
  const config = loadConfig({}, { DATA_DIR: tempDir(t) })
  const chunks: Buffer[] = []
  const ingest = createIngest(config, { log: quietLogger(), questdbHttpUrl: qdb.url, protocolVersion: 1, origin: 'test', sink: { write: async c => { chunks.push(c) } } })
  const outcome = await ingest.pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', reading())
  t.equal(outcome.readings, 1)
  t.equal(chunks.length, 1)
  t.match(Buffer.concat(chunks).toString('latin1'), /^readings,vehicle_id=v1 /m)
  await ingest.close(0)
  t.equal(qdb.bodies.length, 0, 'nothing sent to QuestDB by the ingest itself')
})

t.test('readings reach the live bus it was given', async t => {
  const qdb = await fakeQuestDb(t)
  const config = loadConfig({}, { DATA_DIR: tempDir(t) })
  const live = createLocalLiveBus()
  const seen: string[] = []
  live.subscribe(m => { seen.push(`${m.kind}:${m.vehicleId}:${m.items.length}`) })
  const ingest = createIngest(config, { log: quietLogger(), questdbHttpUrl: qdb.url, protocolVersion: 1, origin: 'test', live, sink: { write: async () => {} } })
  await ingest.pipeline.ingest('v1', 'telemetry', 'fleet/v1/telemetry', reading())
  t.same(seen, ['telemetry:v1:1'])
})
