// GET /rejections: the quarantine, filled through MQTT and POST.
import t from 'tap'
import { startApiStack, call, conforms, publish, RFC3339_MICROS } from '../fixture.js'
import { pollCount } from '../../../test/helper.js'

t.test('the quarantine', async t => {
  const s = await startApiStack(t)
  const now = Date.now()
  await publish(t, s, 'rej-1', 'telemetry', ['{"ts": 1', JSON.stringify({ ts: now, lat: 91, lon: 0 }), JSON.stringify({ ts: now + 3600e3, lat: 1, lon: 1 })])
  const post = await call(s, '/api/v1/vehicles/rej-2/readings', { method: 'POST', key: s.keys.ingest, body: [{ ts: now, lat: 1, lon: 1, typo: true }, { ts: now - 1, lat: 1, lon: 1 }] })
  t.equal(post.body.rejected, 1)
  await pollCount(s.pgUrl, 'SELECT count() n FROM rejections', 4)
  const from = new Date(now - 3600e3).toISOString()
  const to = new Date(now + 3600e3).toISOString()

  const all = await call(s, `/api/v1/rejections?from=${from}&to=${to}`, { key: s.keys.read })
  t.equal(all.status, 200)
  conforms(t, 'rejection-list', all.body)
  t.same(all.body.rejections.map((r: { reason: string }) => r.reason), ['invalid_json', 'schema', 'future_ts', 'schema'], 'oldest first')
  const first = all.body.rejections[0]
  t.equal(first.vehicle_id, 'rej-1')
  t.equal(first.topic, 'fleet/rej-1/telemetry')
  t.equal(first.payload, '{"ts": 1')
  t.ok(RFC3339_MICROS.test(first.ts))
  t.equal(all.body.rejections[3].topic, 'http:POST /api/v1/vehicles/rej-2/readings')
  t.match(all.body.rejections[3].detail, /typo|additional/)

  const byVehicle = await call(s, `/api/v1/rejections?from=${from}&to=${to}&vehicle_id=rej-2`, { key: s.keys.read })
  t.equal(byVehicle.body.rejections.length, 1)
  const byReason = await call(s, `/api/v1/rejections?from=${from}&to=${to}&reason=schema`, { key: s.keys.read })
  t.equal(byReason.body.rejections.length, 2)
  const both = await call(s, `/api/v1/rejections?from=${from}&to=${to}&reason=schema&vehicle_id=rej-1`, { key: s.keys.read })
  t.equal(both.body.rejections.length, 1)

  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const p: { body: { rejections: Array<{ ts: string }>, next_cursor: string | null } } = await call(s, `/api/v1/rejections?from=${from}&to=${to}&limit=3${cursor ? `&cursor=${cursor}` : ''}`, { key: s.keys.read })
    seen.push(...p.body.rejections.map(r => r.ts))
    cursor = p.body.next_cursor
  } while (cursor && ++pages < 10)
  t.same(seen, all.body.rejections.map((r: { ts: string }) => r.ts), 'pages of 3 give the same rows once')

  for (const q of ['reason=nope', 'vehicle_id=' + encodeURIComponent("a' OR 1=1"), 'limit=0', 'cursor=%27%3B', 'from=2026-13-01T00:00:00Z']) {
    const r = await call(s, `/api/v1/rejections?${q}`, { key: s.keys.read })
    t.equal(r.status, 400, q)
    t.equal(r.body.type, 'about:blank')
  }
  const empty = await call(s, '/api/v1/rejections?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', { key: s.keys.read })
  t.same(empty.body, { rejections: [], next_cursor: null })
})
