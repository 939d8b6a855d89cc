// Keyset cursors: a cursor round-trips, and anything this API did not issue,
// or issued for the other order, is refused with API_ERR_BAD_CURSOR.
import t from 'tap'
import { afterCursor, decodeCursor, decodeCursorFor, encodeCursor } from '../../src/queries/cursor.js'

t.test('round trips', async t => {
  t.same(decodeCursor(encodeCursor(1795243423432123)), { tsUs: 1795243423432123, tie: undefined, order: 'asc' })
  t.same(decodeCursor(encodeCursor(5, 'v-1', 'asc')), { tsUs: 5, tie: 'v-1', order: 'asc' })
  t.same(decodeCursor(encodeCursor(5, 'v-1', 'desc')), { tsUs: 5, tie: 'v-1', order: 'desc' })
  t.same(decodeCursor(encodeCursor(5, undefined, 'desc')), { tsUs: 5, tie: undefined, order: 'desc' })
})

t.test('foreign cursors are refused with a code and 400', async t => {
  const forge = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  for (const c of ['not base64 json', forge([2, 5]), forge([1, -1]), forge([1, 1.5]), forge([1, 5, 'bad id']), forge([1, 5, null, 'sideways']), forge({ ts: 5 })]) {
    t.throws(() => decodeCursor(c), { code: 'API_ERR_BAD_CURSOR', statusCode: 400 }, c)
  }
  t.throws(() => decodeCursorFor(encodeCursor(5, 'v1', 'desc'), 'asc'), { code: 'API_ERR_BAD_CURSOR', message: /issued for order=desc/ })
})

t.test('afterCursor resumes strictly after the key, values as bind parameters', async t => {
  const params: unknown[] = ['v1']
  t.equal(afterCursor(encodeCursor(1000000, 'v2'), 'vehicle_id', params), '(ts > $2 OR (ts = $2 AND vehicle_id > $3))')
  t.same(params, ['v1', '1970-01-01T00:00:01.000000Z', 'v2'])
  t.equal(afterCursor(encodeCursor(1000000, 'v2', 'desc'), 'vehicle_id', [], 'desc'), '(ts < $1 OR (ts = $1 AND vehicle_id < $2))')
})
