// from/to of the history endpoints: defaults, bounds and the coded refusals.
import t from 'tap'
import { DAY_US, parseRange } from '../../src/queries/time-range.js'

const NOW = Date.parse('2026-11-21T12:00:00Z')

t.test('defaults: to is now, from one default span before', async t => {
  t.same(parseRange({}, 7, DAY_US, NOW), { fromUs: NOW * 1000 - DAY_US, toUs: NOW * 1000 })
  t.same(parseRange({ from: '2026-11-21T11:00:00Z' }, 7, DAY_US, NOW), { fromUs: (NOW - 3600e3) * 1000, toUs: NOW * 1000 })
})

t.test('refusals carry their code and status', async t => {
  t.throws(() => parseRange({ from: 'yesterday' }, 7, DAY_US, NOW), { code: 'API_ERR_BAD_RANGE', statusCode: 400 })
  t.throws(() => parseRange({ from: '2026-11-21T12:00:00Z', to: '2026-11-21T12:00:00Z' }, 7, DAY_US, NOW), { code: 'API_ERR_BAD_RANGE', message: '`to` must be after `from`' })
  t.throws(() => parseRange({ from: '2026-11-01T00:00:00Z', to: '2026-11-09T00:00:00Z' }, 7, DAY_US, NOW), { code: 'API_ERR_RANGE_TOO_LARGE', statusCode: 400, message: /exceeds 7 days/ })
  const week = parseRange({ from: '2026-11-01T00:00:00Z', to: '2026-11-08T00:00:00Z' }, 7, DAY_US, NOW)
  t.equal(week.toUs - week.fromUs, 7 * DAY_US, 'exactly the bound is allowed')
})
