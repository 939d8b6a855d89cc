// The bare broker's subscriber probe (children/relay-probe.ts, in its own
// process): it counts only what arrives while it measures, and its latency is
// now minus each reading's ts. Against an in-process Aedes, so no Mosquitto is
// needed here.
import t from 'tap'
import { createServer } from 'node:net'
import { once } from 'node:events'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { startRelayProbe } from '../harness/processes.js'

t.test('the relay probe measures publish-to-subscriber latency while told to, and only then', async t => {
  const broker = await Aedes.createBroker()
  const server = createServer(broker.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  t.teardown(async () => {
    await new Promise<void>(resolve => broker.close(() => resolve()))
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  const url = `mqtt://127.0.0.1:${port}`
  const probe = await startRelayProbe(url)
  t.teardown(async () => { await probe.stop().catch(() => {}) })
  const pub = await mqtt.connectAsync(url, { clientId: 'probe-test-pub' })
  t.teardown(async () => { await pub.endAsync() })

  const send = async (n: number, ageMs: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await pub.publishAsync(`fleet/v-${i}/telemetry`, JSON.stringify({ ts: new Date(Date.now() - ageMs).toISOString(), lat: 1, lon: 2 }), { qos: 1 })
    }
  }
  // before start: not counted
  await send(5, 0)
  await new Promise(resolve => setTimeout(resolve, 200))
  probe.start()
  // readings published 300 ms after their ts, as a vehicle's late report
  await send(20, 300)
  await pub.publishAsync('fleet/v-1/events', JSON.stringify({ ts: new Date(Date.now() - 5000).toISOString() }), { qos: 1 })
  await new Promise(resolve => setTimeout(resolve, 300))
  const s = await probe.stop()
  t.equal(s.count, 20, 'the 20 telemetry readings published while measuring, not the 5 before nor the event')
  t.ok(s.p50 >= 300 && s.p50 < 2000, `p50 ${s.p50} ms is at least the readings' age`)
  t.ok(s.p99 >= s.p50, 'p99 >= p50')
})
