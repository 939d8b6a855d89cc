// GET /vehicles, /vehicles/:id, /positions and /stats on a real QuestDB,
// seeded through POST and MQTT (status messages).
import t from 'tap'
import { startApiStack, call, ingest, conforms, publish, RFC3339_MICROS } from '../fixture.js'
import { pollCount } from '../../../test/helper.js'

t.test('latest state of the fleet', async t => {
  const s = await startApiStack(t, { ONLINE_WINDOW_S: 600 })
  const now = Date.now()
  // fiji-w and fiji-e sit on both sides of the antimeridian; old-1 was last seen
  // long ago, status-off says offline, status-on says online though silent for long
  const seed: Array<[string, number, number, number]> = [
    ['fiji-w', -17.8, 178.4, now - 5000],
    ['fiji-e', -16.5, -179.9, now - 5000],
    ['joburg', -26.2, 28.05, now - 10000],
    ['old-1', 51.5, -0.12, now - 3 * 3600e3],
    ['status-off', 40.0, -3.7, now - 1000],
    ['status-on', 48.85, 2.35, now - 2 * 3600e3]
  ]
  for (const [id, lat, lon, ts] of seed) {
    // an older reading elsewhere first: only the latest must count
    t.equal(await ingest(s, id, [{ ts: ts - 60000, lat: 0, lon: 0 }, { ts, lat, lon, speed_kmh: 12.5, fuel_pct: 50 }]), 2)
  }
  await publish(t, s, 'status-off', 'status', ['online', 'offline'])
  // online: connected (the gateway records a vehicle offline when its session ends)
  await publish(t, s, 'status-on', 'status', ['online'], { stay: true })
  await publish(t, s, 'only-status', 'status', ['online'], { stay: true })
  await pollCount(s.pgUrl, 'SELECT count() n FROM readings', seed.length * 2)
  await pollCount(s.pgUrl, 'SELECT count() n FROM vehicle_status', 4)

  t.test('GET /vehicles', async t => {
    const r = await call(s, '/api/v1/vehicles', { key: s.keys.read })
    t.equal(r.status, 200)
    conforms(t, 'vehicle-list', r.body)
    const byId = new Map<string, any>(r.body.vehicles.map((v: any) => [v.vehicle_id, v]))
    t.same([...byId.keys()], ['fiji-e', 'fiji-w', 'joburg', 'old-1', 'only-status', 'status-off', 'status-on'], 'sorted by id, status-only vehicles too')
    t.equal(byId.get('joburg').position.lat, -26.2, 'latest position')
    t.ok(RFC3339_MICROS.test(byId.get('joburg').last_seen))
    t.equal(byId.get('joburg').online, true, 'seen within the window, no status')
    t.equal(byId.get('old-1').online, false, 'not seen within the window, no status')
    t.equal(byId.get('status-off').online, false, 'latest status offline wins over a fresh reading')
    t.equal(byId.get('status-off').status, 'offline')
    t.equal(byId.get('status-on').online, true, 'latest status online')
    t.equal(byId.get('only-status').last_seen, null)
    t.notOk('position' in byId.get('only-status'))
  })

  t.test('GET /vehicles/:id', async t => {
    const r = await call(s, '/api/v1/vehicles/fiji-w', { key: s.keys.read })
    t.equal(r.status, 200)
    conforms(t, 'vehicle', r.body)
    t.equal(r.body.position.lon, 178.4)
    t.equal(r.body.position.speed_kmh, 12.5)
    const none = await call(s, '/api/v1/vehicles/nobody', { key: s.keys.read })
    t.equal(none.status, 404)
    t.equal(none.body.code, 'API_ERR_NOT_FOUND')
    const bad = await call(s, '/api/v1/vehicles/' + encodeURIComponent("x' OR 1=1 --"), { key: s.keys.read })
    t.equal(bad.status, 400)
  })

  t.test('GET /positions', async t => {
    const ids = async (bbox: string): Promise<string[]> => {
      const r = await call(s, `/api/v1/positions?bbox=${bbox}`, { key: s.keys.read })
      t.equal(r.status, 200, bbox)
      conforms(t, 'position-list', r.body)
      return r.body.positions.map((p: { vehicle_id: string }) => p.vehicle_id)
    }
    t.same(await ids('16,-30,33,-22'), ['joburg'], 'a box around Johannesburg')
    t.same(await ids('170,-25,-170,-10'), ['fiji-e', 'fiji-w'], 'a box across the antimeridian')
    t.same(await ids('178,-25,179,-10'), ['fiji-w'], 'only the west side')
    t.same(await ids('-1,-1,1,1'), [], 'older positions at 0,0 do not count: latest only')
    t.same(await ids('-180,-90,180,90'), ['fiji-e', 'fiji-w', 'joburg', 'old-1', 'status-off', 'status-on'])
    t.same(await ids('28.05,-26.2,28.05,-26.2'), ['joburg'], 'edges are inclusive')
    for (const bad of ['1,2,3', '1,2,3,x', '0,10,1,5', '-181,0,0,1', '0,-91,1,1', "1,2,3,4' OR '1'='1", '']) {
      const r = await call(s, `/api/v1/positions?bbox=${encodeURIComponent(bad)}`, { key: s.keys.read })
      t.equal(r.status, 400, `bbox ${bad}`)
      t.match(r.body.detail, /bbox/)
    }
    const missing = await call(s, '/api/v1/positions', { key: s.keys.read })
    t.equal(missing.status, 400)
  })

  t.test('GET /stats', async t => {
    const rej = await call(s, '/api/v1/vehicles/joburg/readings', { method: 'POST', key: s.keys.ingest, body: [{ ts: now, lat: 95, lon: 0 }] })
    t.equal(rej.body.rejected, 1)
    await pollCount(s.pgUrl, 'SELECT count() n FROM rejections', 1)
    const r = await call(s, '/api/v1/stats', { key: s.keys.read })
    t.equal(r.status, 200)
    conforms(t, 'stats', r.body)
    t.equal(r.body.vehicles_total, 7)
    t.equal(r.body.vehicles_online, 5, 'fiji-w, fiji-e, joburg, status-on, only-status')
    t.equal(r.body.per_minute.length, 61)
    const sum = (k: string): number => r.body.per_minute.reduce((a: number, m: any) => a + m[k], 0)
    t.equal(sum('readings'), 8, 'readings in the last hour, by event time (not those of old-1 and status-on)')
    t.equal(sum('rejections'), 1)
    t.ok(r.body.per_minute.every((m: { ts: string }) => /:00\.000000Z$/.test(m.ts)), 'whole minutes')
  })
})
