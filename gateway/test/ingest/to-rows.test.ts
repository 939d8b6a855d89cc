import t from 'tap'
import { createToRows } from '../../src/ingest/to-rows.js'
import { createValidators } from '../../src/ingest/validate.js'
import { createMonotonicClock } from '../../src/ingest/clock.js'
import { toEpochMicros, microsToIso } from '../../../schemas/timestamps.js'
import { loadCases } from '../fixtures/payloads.js'

const limits = { maxPayloadBytes: 262144, maxBatch: 1000, retentionDays: 30 }
const toRows = createToRows(createValidators(), limits, createMonotonicClock())

t.test('every fixture gets its labelled outcome', async t => {
  const cases = loadCases()
  t.ok(cases.length >= 40, `${cases.length} fixtures`)
  for (const c of cases) {
    const rows = toRows('veh-1', 'telemetry', 'fleet/veh-1/telemetry', c.payload)
    t.equal(rows.readings.length, c.accepted, `${c.name}: accepted`)
    t.same(rows.rejections.map(r => r.reason), c.expect, `${c.name}: reasons`)
    for (const r of rows.rejections) {
      t.ok(r.detail.length > 0, `${c.name}: has a detail`)
      t.ok(r.payload.length <= 4096, `${c.name}: payload clipped`)
    }
  }
})

t.test('the detail names the path and the rule', async t => {
  const rows = toRows('v', 'telemetry', 'fleet/v/telemetry', Buffer.from(JSON.stringify([{ ts: new Date().toISOString(), lat: 1, lon: 1 }, { ts: new Date().toISOString(), lat: 95, lon: 1 }])))
  t.equal(rows.rejections[0]?.detail, '[1]/lat must be <= 90')
  const typo = toRows('v', 'telemetry', 'fleet/v/telemetry', Buffer.from(JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 1, speed_kph: 3 })))
  t.match(typo.rejections[0]?.detail, /additional property 'speed_kph'/)
})

t.test('events and status', async t => {
  const now = new Date().toISOString()
  const ev = toRows('v', 'events', 'fleet/v/events', Buffer.from(JSON.stringify([{ ts: now, type: 'harsh_brake', lat: 1, lon: 2, data: { g: 0.6 } }, { ts: now, type: 'teleport' }])))
  t.equal(ev.events.length, 1)
  t.equal(ev.events[0]?.data, '{"g":0.6}')
  t.same(ev.rejections.map(r => r.reason), ['schema'])
  const on = toRows('v', 'status', 'fleet/v/status', Buffer.from('online'))
  t.equal(on.status[0]?.online, true)
  const bad = toRows('v', 'status', 'fleet/v/status', Buffer.from('maybe'))
  t.same(bad.rejections.map(r => r.reason), ['schema'])
})

// The per-second caches in timestamps.ts against plain Date.parse/toISOString.
function referenceMicros (ts: string): number {
  const m = /\.(\d+)/.exec(ts)
  let extra = 0
  let text = ts
  if (m) {
    const d = m[1] as string
    extra = Number(d.slice(3, 6).padEnd(3, '0'))
    text = ts.slice(0, m.index) + '.' + d.slice(0, 3).padEnd(3, '0') + ts.slice(m.index + m[0].length)
  }
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? NaN : ms * 1000 + extra
}
function referenceIso (us: number): string {
  const ms = Math.floor(us / 1000)
  return new Date(ms).toISOString().slice(0, 23) + String(us - ms * 1000).padStart(3, '0') + 'Z'
}

t.test('the fast timestamp paths agree with Date.parse and toISOString', async t => {
  const texts = ['2026-11-21T10:15:30.123456Z', '2026-11-21T10:15:30Z', '2026-11-21T10:15:30.1Z', '2026-11-21T10:15:30.123456789Z',
    '2026-02-30T10:15:30.1Z', '2026-02-29T10:15:30.1Z', '2024-02-29T10:15:30.1Z', '2026-11-21T24:00:00Z', '2026-11-21T23:59:60Z',
    '2026-11-21T10:15:30.Z', '2026-11-21T10:15:30.12a4Z', '2026-11-21T12:15:30.5+02:00', '2026-13-21T10:15:30Z',
    '1970-01-01T00:00:00.000001Z', '1969-12-31T23:59:59.999999Z', '0001-01-01T00:00:00.5Z', '2026-11-21t10:15:30Z', '2026-11-21T10:15:30.0000001Z']
  for (const text of texts) t.same(toEpochMicros(text), referenceMicros(text), text)
  let seed = 7
  const rand = (): number => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 }
  let isoDiff = 0
  let roundTrip = 0
  for (let i = 0; i < 20000; i++) {
    // 1843 to 2096, and runs of readings within one second
    const us = Math.floor((rand() * 2 - 0.9) * 4e15) + (i % 2) * Math.floor(rand() * 1e6)
    if (microsToIso(us) !== referenceIso(us)) isoDiff++
    if (toEpochMicros(referenceIso(us)) !== us) roundTrip++
  }
  t.equal(isoDiff, 0, 'microsToIso')
  t.equal(roundTrip, 0, 'toEpochMicros(iso(us)) === us')
})

t.test('timestamps keep microseconds and zones', async t => {
  t.equal(toEpochMicros('2026-11-21T10:15:30.123456Z'), Date.parse('2026-11-21T10:15:30.123Z') * 1000 + 456)
  t.equal(toEpochMicros('2026-11-21T12:15:30.5+02:00'), Date.parse('2026-11-21T10:15:30.500Z') * 1000)
  t.equal(toEpochMicros(1763720130123), 1763720130123000)
  t.ok(Number.isNaN(toEpochMicros('2026-13-45T99:00:00Z')))
  t.equal(microsToIso(1763720130123456), '2025-11-21T10:15:30.123456Z')
  const clock = createMonotonicClock(() => 1000)
  const first = clock()
  t.ok(first < clock(), 'received times never repeat')
})
