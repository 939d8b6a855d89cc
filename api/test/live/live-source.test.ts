// The MQTT live source of an api apart from the gateway, against a real
// in-process Aedes on port 0: it subscribes to the live topics and passes on
// the well-formed live messages of a batch, nothing else.
import t, { type Test } from 'tap'
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import type { LiveMessage } from '../../../schemas/live.js'
import { LIVE_BATCH_TOPIC } from '../../../schemas/topics.js'
import { createMqttLiveSource } from '../../src/live/live-source.js'
import { pollUntil, quietLogger } from '../../../test/helper.js'

async function broker (t: Test): Promise<{ url: string, publish: (topic: string, payload: string) => Promise<void> }> {
  const aedes = await Aedes.createBroker()
  const server = createServer(aedes.handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await new Promise<void>(resolve => aedes.close(() => resolve()))
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  const publish = (topic: string, payload: string): Promise<void> => new Promise((resolve, reject) => {
    aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, err => err ? reject(err) : resolve())
  })
  return { url: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, publish }
}

t.test('the well-formed messages of a batch reach every subscriber; malformed ones and other topics do not', async t => {
  const b = await broker(t)
  const source = createMqttLiveSource(b.url, 'internal-token', quietLogger())
  t.teardown(async () => { await source.close?.() })
  const got: LiveMessage[] = []
  const unsubscribe = source.subscribe(m => got.push(m))
  await pollUntil(async () => source.connected(), 10000, 'connected')

  const position = { vehicle_id: 'v1', ts: '2026-11-21T10:15:30.123000Z', lat: 1, lon: 2 }
  const good: LiveMessage = { kind: 'telemetry', vehicleId: 'v1', items: [position] }
  const status: LiveMessage = { kind: 'status', vehicleId: 'v2', items: [{ vehicle_id: 'v2', ts: position.ts, online: false }] }
  // the subscription is made after connect: send until the first batch arrives
  for (let i = 0; i < 100 && got.length === 0; i++) {
    await b.publish(LIVE_BATCH_TOPIC, JSON.stringify([good]))
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  t.ok(got.length > 0, 'a batch arrived')
  // delivery is in order: once this marker is here, no earlier batch is still on its way
  const marker: LiveMessage = { kind: 'status', vehicleId: 'v0', items: [{ vehicle_id: 'v0', ts: position.ts, online: true }] }
  await b.publish(LIVE_BATCH_TOPIC, JSON.stringify([marker]))
  await pollUntil(async () => got.some(m => m.vehicleId === 'v0'), 10000, 'the marker')
  got.length = 0

  await b.publish('$fleet/live/v1/telemetry', JSON.stringify([good]))
  await b.publish(LIVE_BATCH_TOPIC, 'not json')
  await b.publish(LIVE_BATCH_TOPIC, JSON.stringify({ kind: 'telemetry' }))
  await b.publish(LIVE_BATCH_TOPIC, JSON.stringify([
    { kind: 'readings', vehicleId: 'v1', items: [] },
    { kind: 'telemetry', vehicleId: 'bad id', items: [position] },
    { kind: 'telemetry', vehicleId: 'v1', items: 'x' },
    status
  ]))
  await pollUntil(async () => got.length > 0, 10000, 'the status message')
  t.same(got, [status], 'only the well-formed message of the last batch')

  unsubscribe()
  await b.publish(LIVE_BATCH_TOPIC, JSON.stringify([good]))
  await b.publish(LIVE_BATCH_TOPIC, JSON.stringify([status]))
  const other: LiveMessage[] = []
  source.subscribe(m => other.push(m))
  await b.publish(LIVE_BATCH_TOPIC, JSON.stringify([good]))
  await pollUntil(async () => other.length > 0, 10000, 'the next batch')
  t.same(got, [status], 'an unsubscribed handler gets nothing more')
})
