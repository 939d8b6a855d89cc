// A vehicle's session start and end reach live-feed clients as `status`
// messages, so a map shows online and offline as the api defines them.
import t from 'tap'
import mqtt from 'mqtt'
import { startQuestDbForTest, startStack, issueTokens } from '../../../test/helper.js'
import { createApiKey } from '../../src/api-keys.js'
import { vehicleTopic } from '../../../schemas/topics.js'
import { openLive, subscribe, wsUrl } from '../live-helper.js'

t.test('status messages on the live feed', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, { API_AUTH: 'required' })
  const { key } = createApiKey(stack.config.DATA_DIR, 'read')
  const live = await openLive(t, wsUrl(stack.httpUrl), { headers: { authorization: `Bearer ${key}` } })
  await subscribe(live, { vehicles: '*' })
  const id = 'st-live'
  const token = issueTokens(stack.config.DATA_DIR, [id]).get(id)
  const c = await mqtt.connectAsync(stack.mqttUrl, { clientId: id, username: id, password: token, protocolVersion: 4 })
  const up = await live.next(m => m.type === 'status' && m.status?.vehicle_id === id, 'online')
  t.equal(up.status?.online, true, 'online when the session starts')
  await c.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 2 }), { qos: 1 })
  const from = live.messages.length
  await c.endAsync()
  const down = await live.next(m => m.type === 'status' && m.status?.vehicle_id === id, 'offline', from)
  t.equal(down.status?.online, false, 'offline when it ends')
  t.match(down.status?.ts, /^\d{4}-\d{2}-\d{2}T/, 'with the time it was recorded')
})
