// The fast encoder writes exactly the official client's bytes.
import t from 'tap'
import { createIlpEncoder } from '../../src/questdb/ilp-encoder.js'
import { createFastIlpEncoder } from '../../src/questdb/ilp-fast-encoder.js'
import { createToRows, emptyRows } from '../../src/ingest/to-rows.js'
import { createValidators } from '../../src/ingest/validate.js'
import { createMonotonicClock } from '../../src/ingest/timestamps.js'
import { loadCases } from '../fixtures/payloads.js'

const limits = { maxPayloadBytes: 262144, maxBatch: 1000, retentionDays: 30 }
const toRows = createToRows(createValidators(), limits, createMonotonicClock())
const official = createIlpEncoder()
const fast = createFastIlpEncoder()

t.test('byte-identical to the official client on every hostile fixture', async t => {
  const cases = loadCases()
  let compared = 0
  for (const c of cases) {
    for (const [vehicle, kind] of [['veh-1', 'telemetry'], ['veh-1', 'events'], ['veh-1', 'status']] as const) {
      const rows = toRows(vehicle, kind, `fleet/${vehicle}/${kind}`, c.payload)
      const a = official.encode(rows)
      const b = fast.encode(rows)
      t.same(b?.toString('utf8'), a?.toString('utf8'), `${c.name} (${kind})`)
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
})

t.test('NaN and Infinity are refused, not written as text', async t => {
  for (const bad of [Number.NaN, Infinity, -Infinity]) {
    const rows = emptyRows()
    rows.readings.push({ vehicleId: 'v', tsUs: 1, receivedUs: 2, reading: { ts: 'x', lat: bad, lon: 0 } })
    t.throws(() => fast.encode(rows), { code: 'GW_ERR_ILP_ENCODE' })
  }
  t.equal(fast.encode(emptyRows()), null)
})
