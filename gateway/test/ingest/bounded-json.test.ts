// The bounded serialiser: JSON.stringify's text for parsed JSON, and a stop,
// not a stack overflow, at its bounds.
import t from 'tap'
import { boundedJson } from '../../src/ingest/bounded-json.js'
import { createToRows } from '../../src/ingest/to-rows.js'
import { createValidators } from '../../src/ingest/validate.js'

t.test('the same text as JSON.stringify for parsed JSON', async t => {
  const docs = ['{"a":1,"b":[true,false,null,"x\\u0000y",1.5e-7,-0],"c":{"d":"é\\ud83d\\ude00"}}', '[]', '{}', '"s"', '12', 'null', '[[[{"a":[{}]}]]]', '{"__proto__":1,"constructor":{"x":2}}']
  for (const text of docs) {
    const v = JSON.parse(text) as unknown
    t.same(boundedJson(v, 10000), { text: JSON.stringify(v), complete: true }, text)
  }
})

t.test('stops at its bounds', async t => {
  const deep = JSON.parse('['.repeat(10000) + ']'.repeat(10000)) as unknown
  const r = boundedJson(deep, 4096)
  t.equal(r.complete, false, '10,000 levels: incomplete')
  t.equal(r.text, '['.repeat(64), 'cut at 64 levels')
  const wide = boundedJson(Array.from({ length: 10000 }, (_, i) => i), 100)
  t.equal(wide.complete, false)
  t.equal(wide.text.length, 100, 'cut at 100 characters')
  t.same(boundedJson({ a: 1 }, 7), { text: '{"a":1}', complete: true }, 'exactly at the bound is complete')
})

t.test('to-rows quarantines nested items and event data with a bounded detail', async t => {
  let now = Date.now() * 1000
  const toRows = createToRows(createValidators(), { maxPayloadBytes: 1 << 20, maxBatch: 1000, retentionDays: 30 }, () => ++now)
  const ts = new Date().toISOString()
  const batch = toRows('v', 'telemetry', 'fleet/v/telemetry', Buffer.from(`[{"ts":"${ts}","lat":1,"lon":1},${'['.repeat(10000)}${']'.repeat(10000)}]`))
  t.equal(batch.readings.length, 1, 'the valid item is kept')
  t.same(batch.rejections.map(r => [r.reason, r.payload.length <= 4096]), [['schema', true]], 'the nested one is a schema rejection with a clipped payload')
  const data = '{"a":'.repeat(10000) + '1' + '}'.repeat(10000)
  const ev = toRows('v', 'events', 'fleet/v/events', Buffer.from(`[{"ts":"${ts}","type":"panic"},{"ts":"${ts}","type":"dtc","data":${data}}]`))
  t.equal(ev.events.length, 1, 'the valid event is kept')
  t.match(ev.rejections, [{ reason: 'schema', detail: /^\[1\]\/data is larger than 4096 bytes or nests deeper than 32 levels$/ }])
  const shallow = toRows('v', 'events', 'fleet/v/events', Buffer.from(`{"ts":"${ts}","type":"dtc","data":{"code":"P0300","x":[1,{"y":null}]}}`))
  t.equal(shallow.events[0]?.data, '{"code":"P0300","x":[1,{"y":null}]}', 'ordinary data is stored as before')
})
