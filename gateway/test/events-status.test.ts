// Events go to `events` and to the live bus; status (and the Last Will) to vehicle_status.
import t from 'tap'
import mqtt from 'mqtt'
import { startQuestDbForTest, startStack, issueTokens, pollCount, query } from '../../test/helper.js'
import { vehicleTopic, CONSUMED_TOPIC } from '../../schemas/topics.js'
import type { LiveMessage } from '../../schemas/live.js'

t.test('events, status and the Last Will', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const tokens = issueTokens(stack.config.DATA_DIR, ['ev-1'])
  const live: LiveMessage[] = []
  t.teardown(stack.gw.gateway.live.subscribe(m => live.push(m)))
  // what went through Aedes's delivery path (its 'publish' event is its last step)
  const delivered: string[] = []
  stack.gw.gateway.broker.aedes.on('publish', p => { delivered.push(p.topic) })
  const c = await mqtt.connectAsync(stack.mqttUrl, {
    clientId: 'ev-1',
    username: 'ev-1',
    password: tokens.get('ev-1'),
    reconnectPeriod: 0,
    will: { topic: vehicleTopic('ev-1', 'status'), payload: Buffer.from('offline'), qos: 1, retain: true }
  })
  await c.publishAsync(vehicleTopic('ev-1', 'status'), 'online', { qos: 1, retain: true })
  const ts = new Date().toISOString()
  await c.publishAsync(vehicleTopic('ev-1', 'events'), JSON.stringify([
    { ts, type: 'harsh_brake', lat: -26.1, lon: 28.0, data: { g: 0.61 } },
    { ts, type: 'dtc', data: { code: 'P0300' } },
    { ts, type: 'teleported' }
  ]), { qos: 1 })
  // an ungraceful end: the broker publishes the will
  c.stream.destroy()
  t.equal(await pollCount(stack.pgUrl, 'SELECT count() n FROM events', 2), 2, 'two valid events stored')
  const events = await query<{ type: string, data: string | null }>(stack.pgUrl, 'SELECT type, data FROM events ORDER BY type')
  t.same(events, [{ type: 'dtc', data: '{"code":"P0300"}' }, { type: 'harsh_brake', data: '{"g":0.61}' }])
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM rejections WHERE reason = 'schema'", 1), 1, 'the unknown event type quarantined')
  t.equal(await pollCount(stack.pgUrl, 'SELECT count() n FROM vehicle_status', 2), 2, 'online, then offline from the will')
  const status = await query<{ online: boolean }>(stack.pgUrl, 'SELECT online FROM vehicle_status ORDER BY ts')
  t.same(status.map(s => s.online), [true, false])
  t.ok(live.some(m => m.kind === 'events' && m.items.length === 2), 'events on the live bus')
  t.ok(live.some(m => m.kind === 'status' && m.items[0]?.online === false), 'status on the live bus')
  t.ok(delivered.includes(vehicleTopic('ev-1', 'status')), 'status, retained, goes through the broker')
  t.notOk(delivered.includes(CONSUMED_TOPIC), 'consumed events skip the delivery path')
})
