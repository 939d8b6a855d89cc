// The geofence store: the last line of an id wins, a process following the
// file sees another's writes, a line from the registry stream older than the
// one applied changes nothing, and broken lines of a hand-edited file are
// skipped so that evaluation never meets them.
import t from 'tap'
import { appendFileSync } from 'node:fs'
import { pino } from 'pino'
import { tempDir } from '../../../test/helper.js'
import { deleteGeofence, geofencesFile, openGeofenceStore, putGeofence } from '../../src/geofences/geofence-store.js'
import { createGeofencing } from '../../src/geofences/geofencing.js'

const circle = (lon: number): { type: 'Point', coordinates: [number, number], radius_m: number } => ({ type: 'Point', coordinates: [lon, 0], radius_m: 1000 })

t.test('put, replace, delete; another process follows', async t => {
  const dir = tempDir(t)
  const a = openGeofenceStore(dir, { maxVertices: 100 })
  const b = openGeofenceStore(dir, { maxVertices: 100 })
  t.teardown(() => { a.close(); b.close() })
  putGeofence(dir, 'z1', { name: 'one', geometry: circle(0) })
  putGeofence(dir, 'z2', { name: 'two', geometry: circle(1) })
  putGeofence(dir, 'z1', { name: 'one again', geometry: circle(2) })
  t.same(a.list().map(g => `${g.id}:${g.name}`), ['z1:one again', 'z2:two'])
  t.ok(b.refresh(), 'the other store reads the new lines')
  t.same(b.index().containing(2, 0).map(g => g.id), ['z1'], 'its index follows the replacement')
  t.same(b.index().containing(0, 0), [])
  deleteGeofence(dir, 'z2')
  b.refresh()
  t.equal(b.index().size, 1)
  t.equal(a.get('z2'), undefined)
})

t.test('lines from the registry stream: an older one changes nothing', async t => {
  const dir = tempDir(t)
  const s = openGeofenceStore(dir, { maxVertices: 100 })
  t.teardown(() => s.close())
  const put = (name: string, at: string): string => JSON.stringify({ op: 'put', id: 'z', geofence: { id: 'z', name, labels: [], geometry: circle(0), updated_at: at }, at })
  t.ok(s.apply(put('new', '2026-01-02T00:00:00.000Z')))
  t.notOk(s.apply(put('old', '2026-01-01T00:00:00.000Z')), 'a late arrival')
  t.equal(s.get('z')?.name, 'new')
  t.ok(s.apply(JSON.stringify({ op: 'delete', id: 'z', at: '2026-01-03T00:00:00.000Z' })))
  t.equal(s.get('z'), undefined)
  t.notOk(s.apply('not json'))
})

t.test('broken lines of a hand-edited file are skipped; evaluation goes on', async t => {
  const dir = tempDir(t)
  putGeofence(dir, 'good', { name: 'good', geometry: circle(0) })
  const bad = (geometry: unknown): string => JSON.stringify({ op: 'put', id: 'bad', geofence: { id: 'bad', name: 'bad', labels: [], geometry, updated_at: 'x' }, at: '2026-01-01T00:00:00.000Z' }) + '\n'
  appendFileSync(geofencesFile(dir), '{"op":"put", truncated\n' + bad({ type: 'Polygon', coordinates: 'x' }) + bad({ type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] }) + bad(null))
  const s = openGeofenceStore(dir, { maxVertices: 100 })
  t.teardown(() => s.close())
  t.same(s.list().map(g => g.id), ['good'])
  const g = createGeofencing({ dataDir: dir, maxVertices: 100, dwellS: 0, name: 'spool', log: pino({ level: 'silent' }) })
  t.teardown(() => g.close())
  const alerts = g.alertsOf([{ vehicleId: 'v', tsUs: 1, receivedUs: 1, reading: { ts: '', lat: 0, lon: 0 } }])
  t.match(alerts, [{ type: 'geofence_enter', geofenceId: 'good' }])
})
