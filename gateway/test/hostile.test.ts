// Hostile and broken input over real MQTT: every fixture lands in
// `rejections` with its reason, nothing corrupts what is written, and a
// healthy vehicle publishing meanwhile loses nothing. Redeliveries are stored once.
import t from 'tap'
import { startQuestDbForTest, startStack, issueTokens, connectVehicles, pollCount, query, count, duplicateReadings, waitWalApplied } from '../../test/helper.js'
import { vehicleTopic } from '../../schemas/topics.js'
import { loadCases } from './fixtures/payloads.js'
import { MAX_TOPIC_OVERHEAD } from '../src/broker/broker.js'

t.test('the hostile corpus over MQTT, beside a healthy vehicle', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, { MAX_PAYLOAD_BYTES: 262144 })
  const [hostile, healthy, huge] = await connectVehicles(t, stack.mqttUrl, issueTokens(stack.config.DATA_DIR, ['hostile-1', 'healthy-1', 'hostile-2']))
  if (!hostile || !healthy || !huge) throw new Error('clients')
  const all = loadCases()
  t.ok(all.length >= 40, `${all.length} payloads in the corpus`)
  // a packet beyond MAX_PAYLOAD_BYTES and the topic's room is refused on its
  // fixed header: the connection closes, nothing is acknowledged or stored
  const fits = (payload: Buffer): boolean => payload.length <= stack.config.MAX_PAYLOAD_BYTES + MAX_TOPIC_OVERHEAD - 4 - vehicleTopic('hostile-1', 'telemetry').length
  const cases = all.filter(c => fits(c.payload))
  for (const c of all.filter(c => !fits(c.payload))) {
    const closed = new Promise<void>(resolve => huge.once('close', () => resolve()))
    let acked = false
    huge.publish(vehicleTopic('hostile-2', 'telemetry'), c.payload, { qos: 1 }, err => { acked = !err })
    await closed
    t.notOk(acked, `${c.name}: closed on the header, not acknowledged`)
  }
  t.ok(cases.some(c => c.expect.includes('too_large')), 'a payload over MAX_PAYLOAD_BYTES within the packet limit is still quarantined as too_large')

  const base = Date.now() - 3600e3
  const healthyStream = (async () => {
    for (let i = 0; i < 500; i++) {
      await healthy.publishAsync(vehicleTopic('healthy-1', 'telemetry'), JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), seq: i, lat: 1, lon: 1 }), { qos: 1 })
    }
  })()
  for (const c of cases) {
    await hostile.publishAsync(vehicleTopic('hostile-1', 'telemetry'), c.payload, { qos: 1 })
  }
  await healthyStream
  t.ok(hostile.connected, 'the hostile vehicle is still connected (every reject was acknowledged)')

  const wantRejections = cases.reduce((n, c) => n + c.expect.length, 0)
  const wantAccepted = cases.reduce((n, c) => n + c.accepted, 0)
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'hostile-1'", wantRejections), wantRejections, 'every reject quarantined')
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'healthy-1'", 500), 500, 'the healthy vehicle lost nothing')
  t.equal(await count(stack.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'hostile-1'"), wantAccepted, 'the valid ones were stored')

  const byReason = new Map<string, number>()
  for (const c of cases) for (const r of c.expect) byReason.set(r, (byReason.get(r) ?? 0) + 1)
  const got = await query<{ reason: string, n: string }>(stack.pgUrl, "SELECT reason, count() n FROM rejections WHERE vehicle_id = 'hostile-1' ORDER BY reason")
  t.same(Object.fromEntries(got.map(r => [r.reason, Number(r.n)])), Object.fromEntries([...byReason].sort()), 'reasons match the labels')
  const details = await query<{ detail: string, payload: string }>(stack.pgUrl, "SELECT detail, payload FROM rejections WHERE vehicle_id = 'hostile-1'")
  t.ok(details.every(d => d.detail.length > 0 && d.payload.length <= 4096), 'each has a detail and a clipped payload')

  const tables = await query<{ table_name: string }>(stack.pgUrl, 'SELECT table_name FROM tables() ORDER BY table_name')
  t.same(tables.map(r => r.table_name).filter(n => !n.startsWith('sys.') && !n.startsWith('telemetry') && !n.startsWith('_')), ['alerts', 'events', 'readings', 'rejections', 'vehicle_status'], 'no table was created by injected lines (only the DDL of schemas/tables.sql)')
  t.equal(await count(stack.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'hostile-2'"), 0, 'nothing of the refused packets is stored')
  const vehicles = await query<{ vehicle_id: string }>(stack.pgUrl, 'SELECT DISTINCT vehicle_id FROM readings ORDER BY vehicle_id')
  t.same(vehicles.map(v => v.vehicle_id), ['healthy-1', 'hostile-1'], 'no vehicle id was forged by injected lines')
})

t.test('the same 5,000 readings sent twice (redeliveries) are stored once', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const ids = Array.from({ length: 10 }, (_, i) => `dup-${i}`)
  const clients = await connectVehicles(t, stack.mqttUrl, issueTokens(stack.config.DATA_DIR, ids))
  const base = Date.now() - 3600e3
  for (let round = 0; round < 2; round++) {
    await Promise.all(clients.map(async (c, v) => {
      for (let i = 0; i < 500; i++) {
        const p = c.publishAsync(vehicleTopic(ids[v] as string, 'telemetry'), JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), seq: i, lat: 1, lon: v }), { qos: 1 })
        if (i % 50 === 49) await p
      }
    }))
  }
  await waitWalApplied(stack.pgUrl)
  t.equal(await pollCount(stack.pgUrl, 'SELECT count() n FROM readings', 5000), 5000, '5,000 rows')
  t.equal(await duplicateReadings(stack.pgUrl), 0)
})
