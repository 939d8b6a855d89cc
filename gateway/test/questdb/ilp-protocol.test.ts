// ILP protocol 2 against a real QuestDB: the bundled server is asked and
// answers 2, and doubles sent as binary are stored exactly as the JavaScript
// numbers they were, the same values protocol 1's text gives.
import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startQuestDbForTest, quietLogger, pollCount, query, waitWalApplied } from '../../../test/helper.js'
import { createTables, ilpProtocolVersion } from '../../src/questdb/tables.js'
import { createFastIlpEncoder } from '../../src/questdb/ilp-fast-encoder.js'
import { createIlpWriter } from '../../src/questdb/ilp-writer.js'
import { emptyRows } from '../../src/ingest/to-rows.js'
import type { Reading } from '../../../schemas/types.js'

// the expectation's own list of double columns, not the encoder's
const FIELDS = ['lat', 'lon', 'speed_kmh', 'heading_deg', 'alt_m', 'odometer_km', 'fuel_pct', 'engine_temp_c', 'battery_v'] as const

// shortest texts of 17 digits, tiny and huge magnitudes, a denormal, negative zero
const AWKWARD = [0.1, 0.30000000000000004, -0.000001, 1e-7, 123456.78901234567, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0, 89.99999999999999, -179.99999999999997, 52.520008, 13.404954]

async function fakeSettings (t: Test, status: number, body: unknown): Promise<string> {
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/settings' ? status : 404, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('auto takes 2 only when /settings lists it', async t => {
  t.equal(await ilpProtocolVersion(await fakeSettings(t, 200, { config: { 'line.proto.support.versions': [1, 2] } }), 'auto'), 2)
  t.equal(await ilpProtocolVersion(await fakeSettings(t, 200, { config: { 'line.proto.support.versions': [1] } }), 'auto'), 1, 'only 1 listed')
  t.equal(await ilpProtocolVersion(await fakeSettings(t, 200, { config: {} }), 'auto'), 1, 'no versions listed')
  t.equal(await ilpProtocolVersion(await fakeSettings(t, 404, {}), 'auto'), 1, 'no /settings (QuestDB before 9.0)')
  t.equal(await ilpProtocolVersion('http://127.0.0.1:9', '1'), 1, 'a configured version is not asked for')
  t.equal(await ilpProtocolVersion('http://127.0.0.1:9', '2'), 2)
})

t.test('binary doubles are stored exactly, the same values as text', async t => {
  const db = await startQuestDbForTest(t)
  t.equal(await ilpProtocolVersion(db.httpUrl, 'auto'), 2, 'the bundled QuestDB takes protocol 2')
  await createTables(db.httpUrl, 30)
  const base = (Date.now() - 3600e3) * 1000
  const n = AWKWARD.length * FIELDS.length
  for (const version of [1, 2] as const) {
    const encoder = createFastIlpEncoder({ protocolVersion: version })
    const writer = createIlpWriter({ httpUrl: db.httpUrl, log: quietLogger(), flushIntervalMs: 10, maxBatchBytes: 1 << 20 })
    const rows = emptyRows()
    // every awkward value in every double column, one row each
    for (let i = 0; i < n; i++) {
      const reading: Reading = { ts: 'x', seq: i, lat: 0, lon: 0 }
      reading[FIELDS[i % FIELDS.length] as typeof FIELDS[number]] = AWKWARD[Math.floor(i / FIELDS.length)] as number
      rows.readings.push({ vehicleId: `proto-${version}`, tsUs: base + i, receivedUs: base + i + 1, reading })
    }
    await writer.write(encoder.encode(rows) as Buffer)
    await writer.close()
  }
  await waitWalApplied(db.pgUrl)
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id IN ('proto-1', 'proto-2')", 2 * n), 2 * n)
  // doubles go through pg as float8 text of 17 significant digits at most: compare as numbers
  const cols = FIELDS.join(', ')
  const got = await query<Record<string, number | string>>(db.pgUrl, `SELECT vehicle_id, seq, ${cols} FROM readings WHERE vehicle_id IN ('proto-1', 'proto-2') ORDER BY vehicle_id, seq`)
  // -0 and 0 compare equal here: pg's float8 text need not keep the sign of zero
  const column = (v: string): number[] => got.filter(r => r.vehicle_id === v).map((r, i) => {
    const x = Number(r[FIELDS[i % FIELDS.length] as string])
    return x === 0 ? 0 : x
  })
  const want = Array.from({ length: n }, (_, i) => AWKWARD[Math.floor(i / FIELDS.length)] as number).map(x => x === 0 ? 0 : x)
  t.same(column('proto-2'), want, 'every double stored exactly through protocol 2')
  t.same(column('proto-1'), column('proto-2'), 'protocol 1 stored the same values')
})
