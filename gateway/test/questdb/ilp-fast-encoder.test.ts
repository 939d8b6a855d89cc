// The fast encoder writes exactly the official client's bytes.
import t from 'tap'
import { createIlpEncoder } from '../../../benchmarks/peers/ilp-client-encoder.js'
import { createFastIlpEncoder } from '../../src/questdb/ilp-fast-encoder.js'
import { createToRows, emptyRows } from '../../src/ingest/to-rows.js'
import { createValidators } from '../../src/ingest/validate.js'
import { createMonotonicClock } from '../../src/ingest/clock.js'
import { loadCases } from '../fixtures/payloads.js'

const limits = { maxPayloadBytes: 262144, maxBatch: 1000, retentionDays: 30 }
const toRows = createToRows(createValidators(), limits, createMonotonicClock())
const official = createIlpEncoder()
const fast = createFastIlpEncoder()
// protocol 2: doubles as binary, designated timestamps in microseconds
const official2 = createIlpEncoder({ protocolVersion: 2 })
const fast2 = createFastIlpEncoder({ protocolVersion: 2 })

t.test('byte-identical to the official client on every hostile fixture', async t => {
  const cases = loadCases()
  let compared = 0
  for (const c of cases) {
    for (const [vehicle, kind] of [['veh-1', 'telemetry'], ['veh-1', 'events'], ['veh-1', 'status']] as const) {
      const rows = toRows(vehicle, kind, `fleet/${vehicle}/${kind}`, c.payload)
      const a = official.encode(rows)
      const b = fast.encode(rows)
      t.same(b?.toString('utf8'), a?.toString('utf8'), `${c.name} (${kind})`)
      t.same(fast2.encode(rows)?.toString('hex'), official2.encode(rows)?.toString('hex'), `${c.name} (${kind}), protocol 2`)
      if (a) compared++
    }
  }
  t.ok(compared >= 100, `${compared} non-empty encodings compared`)
})

t.test('escaping of names, symbols and strings; big timestamps', async t => {
  const rows = emptyRows()
  const nasty = 'a b,c=d\ne\rf\\g"h\u00e9\u{1F600}'
  rows.readings.push({ vehicleId: 'v_1-2', tsUs: 1795243423432123, receivedUs: 1795243423432999, reading: { ts: 'x', lat: -0.000001, lon: 1e-7, speed_kmh: 0, heading_deg: 359.9, rpm: 0, seq: 9007199254740991, ignition: false } })
  rows.events.push({ vehicleId: 'v', tsUs: 1, receivedUs: 2, event: { ts: 'x', type: 'dtc' }, data: nasty })
  rows.rejections.push({ vehicleId: 'v', receivedUs: 3, topic: nasty, reason: 'schema', detail: nasty, payload: nasty })
  rows.status.push({ vehicleId: 'v', tsUs: 4, online: true })
  t.equal(fast.encode(rows)?.toString('utf8'), official.encode(rows)?.toString('utf8'))
  t.equal(fast2.encode(rows)?.toString('hex'), official2.encode(rows)?.toString('hex'), 'protocol 2')
})

t.test('the origin symbol of status and rejection rows, escaped like any symbol', async t => {
  const rows = emptyRows()
  rows.readings.push({ vehicleId: 'v', tsUs: 1, receivedUs: 2, reading: { ts: 'x', lat: 0.1, lon: -1 } })
  rows.rejections.push({ vehicleId: 'v', receivedUs: 3, topic: 't', reason: 'schema', detail: 'd', payload: 'p' })
  rows.status.push({ vehicleId: 'v', tsUs: 4, online: false })
  for (const origin of ['gw1/0', 'a b,c=d\\e']) {
    for (const protocolVersion of [1, 2] as const) {
      const b = createFastIlpEncoder({ protocolVersion, origin }).encode(rows) as Buffer
      t.ok(b.equals(createIlpEncoder({ protocolVersion, origin }).encode(rows) as Buffer), `${origin}, protocol ${protocolVersion}: identical`)
    }
  }
  const text = createFastIlpEncoder({ origin: 'gw1/0' }).encode(rows)?.toString('utf8') ?? ''
  t.match(text, /^rejections,vehicle_id=v,reason=schema,origin=gw1\/0 /m)
  t.match(text, /^vehicle_status,vehicle_id=v,origin=gw1\/0 online=f /m)
  t.match(text, /^readings,vehicle_id=v lat=/m, 'readings are keyed by their own time: no origin')
})

t.test('protocol 2 writes a double as ==, type 16 and 8 bytes little-endian', async t => {
  const rows = emptyRows()
  rows.readings.push({ vehicleId: 'v', tsUs: 1795243423432123, receivedUs: 1795243423432999, reading: { ts: 'x', lat: 0.1, lon: -1 } })
  const b = fast2.encode(rows) as Buffer
  const lat = b.indexOf('lat==')
  t.ok(lat > 0)
  t.equal(b[lat + 5], 16)
  t.equal(b.readDoubleLE(lat + 6), 0.1)
  t.equal(b.readDoubleLE(b.indexOf('lon==') + 6), -1)
  t.ok(b.subarray(b.length - 19).equals(Buffer.from(' 1795243423432123t\n')), 'the designated timestamp in microseconds')
  // a scratch buffer outgrown keeps what was written before it grew
  const big = emptyRows()
  for (let i = 0; i < 3000; i++) big.readings.push({ vehicleId: `v-${i}`, tsUs: 1 + i, receivedUs: 2 + i, reading: { ts: 'x', lat: i / 7, lon: -i / 3 } })
  const out = fast2.encode(big) as Buffer
  t.ok(out.length > 64 * 1024)
  t.ok(out.equals(official2.encode(big) as Buffer), 'identical past 64 kB')
})

t.test('NaN and Infinity are refused, not written as text', async t => {
  for (const bad of [Number.NaN, Infinity, -Infinity]) {
    const rows = emptyRows()
    rows.readings.push({ vehicleId: 'v', tsUs: 1, receivedUs: 2, reading: { ts: 'x', lat: bad, lon: 0 } })
    t.throws(() => fast.encode(rows), { code: 'GW_ERR_ILP_ENCODE' })
    t.throws(() => fast2.encode(rows), { code: 'GW_ERR_ILP_ENCODE' }, 'protocol 2 too')
  }
  t.equal(fast2.encode(emptyRows()), null)
  t.equal(fast.encode(emptyRows()), null)
})
