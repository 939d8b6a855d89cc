// A subscribe message checked against schemas/api/live-subscribe.schema.json:
// what the feed cannot serve is refused with a sentence the client can act on.
import t from 'tap'
import { parseSubscribe, MAX_HZ, MAX_VEHICLES_PER_SUBSCRIPTION } from '../../src/live/subscription.js'

t.test('parseSubscribe refuses what it cannot serve', async t => {
  t.type(parseSubscribe({ vehicles: ['ok', 'bad id'] }), 'string')
  t.type(parseSubscribe({ vehicles: '*', bbox: [0, 10, 1, 5] }), 'string')
  t.type(parseSubscribe({ vehicles: '*', bbox: [0, 0, 181, 5] }), 'string')
  t.type(parseSubscribe({ vehicles: '*', bbox: [0, 0, 1] }), 'string')
  t.type(parseSubscribe({ vehicles: '*', max_hz: -1 }), 'string')
  t.type(parseSubscribe({ vehicles: '*', max_hz: 'fast' }), 'string')
  t.same(parseSubscribe({ bbox: [170, 0, -170, 10], max_hz: 2 }), { all: true, ids: new Set(), bbox: [170, 0, -170, 10], maxHz: 2 })
})

t.test('each refusal names the property to change', async t => {
  t.match(parseSubscribe({ vehicles: 'v1' }), /^vehicles must be "\*" or an array/)
  t.match(parseSubscribe({ vehicles: Array.from({ length: MAX_VEHICLES_PER_SUBSCRIPTION + 1 }, (_, i) => `v${i}`) }), /^vehicles must be/)
  t.match(parseSubscribe({ bbox: [0, 'a', 1, 2] }), /^bbox must be \[minLon,minLat,maxLon,maxLat\]$/)
  t.match(parseSubscribe({ bbox: { minLon: 0 } }), /^bbox must be \[/)
  t.match(parseSubscribe({ bbox: [0, 0, 181, 5] }), /^bbox out of range/, 'a longitude beyond 180')
  t.match(parseSubscribe({ bbox: [0, 91, 1, 92] }), /^bbox out of range/, 'a latitude beyond 90')
  t.match(parseSubscribe({ bbox: [0, 10, 1, 5] }), /^bbox out of range/, 'minLat > maxLat')
  t.match(parseSubscribe({ max_hz: MAX_HZ + 1 }), /^max_hz must be a number in \[0, 50\]/)
})

t.test('what it accepts', async t => {
  t.same(parseSubscribe({ type: 'subscribe', vehicles: ['a', 'b'], bbox: null }), { all: false, ids: new Set(['a', 'b']), bbox: null, maxHz: 0 })
  t.same(parseSubscribe({}), { all: true, ids: new Set(), bbox: null, maxHz: 0 }, 'every vehicle, anywhere, every reading')
  t.same(parseSubscribe({ vehicles: '*', max_hz: MAX_HZ }), { all: true, ids: new Set(), bbox: null, maxHz: MAX_HZ })
})
