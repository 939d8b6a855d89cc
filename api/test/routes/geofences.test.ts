// Geofences over the API with keys required: CRUD as admin, reads for read,
// 403 for read on writes, 400 with a code for geometry the gateway refuses,
// paging and ?bbox=, and acknowledging an alert.
import t from 'tap'
import { call, conforms, startApiStack } from '../fixture.js'
import { connectVehicles, issueTokens, pollUntil } from '../../../test/helper.js'
import { vehicleTopic } from '../../../schemas/topics.js'

const square = (lon: number, lat: number, d = 0.01): number[][][] => [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]

t.test('geofences over the API', async t => {
  const s = await startApiStack(t, { GEOFENCE_MAX_VERTICES: 100 })

  t.test('auth: read may read, only admin may write', async t => {
    const body = { name: 'x', geometry: { type: 'Point', coordinates: [1, 1], radius_m: 10 } }
    t.equal((await call(s, '/api/v1/geofences', { key: null })).status, 401)
    t.equal((await call(s, '/api/v1/geofences', { key: s.keys.read })).status, 200)
    for (const key of [s.keys.read, s.keys.ingest]) {
      const posted = await call(s, '/api/v1/geofences', { method: 'POST', key, body })
      t.equal(posted.status, 403)
      t.equal(posted.body.code, 'API_ERR_FORBIDDEN')
      t.equal((await call(s, '/api/v1/geofences/any', { method: 'PUT', key, body })).status, 403)
      t.equal((await call(s, '/api/v1/geofences/any', { method: 'DELETE', key })).status, 403)
    }
    t.equal((await call(s, '/api/v1/geofences', { key: s.keys.read })).body.geofences.length, 0, 'nothing stored')
  })

  t.test('create, get, list, replace, delete', async t => {
    const made = await call(s, '/api/v1/geofences', { method: 'POST', body: { id: 'depot', name: 'Depot', labels: ['north'], speed_limit_kmh: 15, geometry: { type: 'Polygon', coordinates: square(13.0, 52.0) } } })
    t.equal(made.status, 201)
    conforms(t, 'geofence', made.body)
    t.equal(made.headers.get('location'), '/api/v1/geofences/depot')
    t.match(made.body, { id: 'depot', name: 'Depot', labels: ['north'], speed_limit_kmh: 15, geometry: { type: 'Polygon' } })
    t.equal((await call(s, '/api/v1/geofences', { method: 'POST', body: { id: 'depot', name: 'again', geometry: { type: 'Polygon', coordinates: square(1, 1) } } })).body.code, 'API_ERR_CONFLICT')
    const circle = await call(s, '/api/v1/geofences', { method: 'POST', body: { name: 'Plant', geometry: { type: 'Point', coordinates: [14.0, 53.0], radius_m: 500 } } })
    t.equal(circle.status, 201)
    t.match(circle.body.id, /^gf_[0-9a-f]{16}$/, 'an id is made when none is given')
    const multi = await call(s, '/api/v1/geofences', { method: 'POST', body: { id: 'harbour', name: 'Harbour', geometry: { type: 'MultiPolygon', coordinates: [square(8.0, 53.5), square(8.1, 53.5)] } } })
    t.equal(multi.status, 201)

    const got = await call(s, '/api/v1/geofences/depot', { key: s.keys.read })
    t.equal(got.status, 200)
    t.same(got.body, made.body, 'GeoJSON out as it went in')
    t.equal((await call(s, '/api/v1/geofences/nope')).status, 404)

    const page1 = await call(s, '/api/v1/geofences?limit=2', { key: s.keys.read })
    conforms(t, 'geofence-list', page1.body)
    t.same(page1.body.geofences.map((g: { id: string }) => g.id), ['depot', circle.body.id])
    const page2 = await call(s, `/api/v1/geofences?limit=2&after=${page1.body.next_after as string}`, { key: s.keys.read })
    t.same(page2.body.geofences.map((g: { id: string }) => g.id), ['harbour'])
    t.equal(page2.body.next_after, null)
    t.same((await call(s, '/api/v1/geofences?bbox=12.9,51.9,13.005,52.005')).body.geofences.map((g: { id: string }) => g.id), ['depot'], 'by box')
    t.same((await call(s, '/api/v1/geofences?bbox=0,0,1,1')).body.geofences, [])
    t.same((await call(s, '/api/v1/geofences?label=north')).body.geofences.map((g: { id: string }) => g.id), ['depot'])
    t.equal((await call(s, '/api/v1/geofences?bbox=1,2,3')).body.code, 'API_ERR_BAD_BBOX')

    const replaced = await call(s, '/api/v1/geofences/depot', { method: 'PUT', body: { name: 'Depot 2', geometry: { type: 'Point', coordinates: [13.0, 52.0], radius_m: 100 } } })
    t.equal(replaced.status, 200)
    t.match(replaced.body, { id: 'depot', name: 'Depot 2', labels: [], geometry: { type: 'Point', radius_m: 100 } })
    t.notOk('speed_limit_kmh' in replaced.body, 'replaced whole')
    t.equal((await call(s, '/api/v1/geofences/depot', { method: 'PUT', body: { id: 'other', name: 'x', geometry: { type: 'Point', coordinates: [1, 1], radius_m: 1 } } })).status, 400)

    t.equal((await call(s, '/api/v1/geofences/depot', { method: 'DELETE' })).status, 204)
    t.equal((await call(s, '/api/v1/geofences/depot')).status, 404)
    t.equal((await call(s, '/api/v1/geofences/depot', { method: 'DELETE' })).status, 404)
    // the gateway in this process follows the file: it sees the delete
    await pollUntil(async () => s.gw.gateway.geofencing.store.index().get('depot') === undefined && s.gw.gateway.geofencing.store.index().size === 2, 5000, 'the gateway to follow')
  })

  t.test('bad geometry: 400 with a code, nothing stored', async t => {
    const ring: number[][] = []
    for (let i = 0; i < 100; i++) ring.push([Math.cos(2 * Math.PI * i / 100), Math.sin(2 * Math.PI * i / 100)])
    ring.push(ring[0] as number[])
    const cases: Array<[string, unknown, string]> = [
      ['unclosed', { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] }, 'API_ERR_GEOFENCE_RING_NOT_CLOSED'],
      ['bow tie', { type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] }, 'API_ERR_GEOFENCE_SELF_INTERSECTION'],
      ['too many vertices', { type: 'Polygon', coordinates: [ring] }, 'API_ERR_GEOFENCE_TOO_MANY_VERTICES'],
      ['longitude', { type: 'Polygon', coordinates: [[[0, 0], [190, 0], [1, 1], [0, 0]]] }, 'API_ERR_GEOFENCE_COORDINATE_RANGE'],
      ['latitude', { type: 'Point', coordinates: [0, 95], radius_m: 10 }, 'API_ERR_GEOFENCE_COORDINATE_RANGE'],
      ['radius 0', { type: 'Point', coordinates: [0, 0], radius_m: 0 }, 'API_ERR_VALIDATION'],
      ['a line', { type: 'LineString', coordinates: [[0, 0], [1, 1]] }, 'API_ERR_VALIDATION'],
      ['short ring', { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] }, 'API_ERR_VALIDATION']
    ]
    for (const [what, geometry, code] of cases) {
      const res = await call(s, '/api/v1/geofences', { method: 'POST', body: { id: 'bad', name: what, geometry } })
      t.equal(res.status, 400, what)
      t.equal(res.body.code, code, what)
      t.ok(typeof res.body.detail === 'string' && res.body.detail.length > 0, `${what}: ${res.body.detail as string}`)
      t.equal((await call(s, '/api/v1/geofences/bad', { method: 'PUT', body: { name: what, geometry } })).status, 400, `${what} on PUT`)
    }
    t.equal((await call(s, '/api/v1/geofences/bad')).status, 404, 'nothing stored')
  })

  t.test('acknowledge an alert', async t => {
    t.equal((await call(s, '/api/v1/geofences', { method: 'POST', body: { id: 'ack-zone', name: 'Ack', geometry: { type: 'Polygon', coordinates: square(20, 20) } } })).status, 201)
    await pollUntil(async () => s.gw.gateway.geofencing.store.index().get('ack-zone') !== undefined, 5000, 'the gateway to follow')
    const [client] = await connectVehicles(t, s.mqttUrl, issueTokens(s.config.DATA_DIR, ['acker']))
    const ts = Date.now() - 60000
    await client?.publishAsync(vehicleTopic('acker', 'telemetry'), JSON.stringify({ ts, lat: 20.005, lon: 20.005 }), { qos: 1 })
    let list: { alerts: Array<{ id: string }> } = { alerts: [] }
    await pollUntil(async () => { list = (await call(s, '/api/v1/alerts?vehicle_id=acker', { key: s.keys.read })).body; return list.alerts.length === 1 }, 60000, 'the enter alert')
    conforms(t, 'alert-list', list)
    const id = (list.alerts[0] as { id: string }).id
    t.equal(id, `acker.ack-zone.geofence_enter.${ts * 1000}`)
    t.equal((await call(s, `/api/v1/alerts/${id}/ack`, { method: 'POST', key: s.keys.read })).status, 403)
    const acked = await call(s, `/api/v1/alerts/${id}/ack`, { method: 'POST' })
    t.equal(acked.status, 200)
    conforms(t, 'alert', acked.body)
    t.match(acked.body, { id, acked_by: /^[0-9a-f]{12}$/, acked_at: /^\d{4}-/ })
    await pollUntil(async () => (await call(s, '/api/v1/alerts?vehicle_id=acker')).body.alerts[0]?.acked_by === acked.body.acked_by, 30000, 'the ack to be listed')
    t.equal((await call(s, '/api/v1/alerts/acker.ack-zone.geofence_enter.1/ack', { method: 'POST' })).status, 404)
    t.equal((await call(s, '/api/v1/alerts/garbage/ack', { method: 'POST' })).status, 404)
    t.equal((await call(s, '/api/v1/alerts?before=garbage')).body.code, 'API_ERR_BAD_CURSOR')
  })
})
