// The per-vehicle token bucket on a clock the test moves: a burst of
// BURST_SECONDS is free, beyond it the wait grows with the deficit, and time
// refills the bucket up to its capacity, never beyond.
import t from 'tap'
import { BURST_SECONDS, createRateLimiter } from '../../src/broker/rate-limit.js'

t.test('a burst is free; past it, the wait is the deficit at the rate', async t => {
  let now = 0
  const limiter = createRateLimiter(10, () => now)
  t.equal(limiter.take('v1', 10 * BURST_SECONDS), 0, 'a full burst')
  t.equal(limiter.take('v1', 5), 500, '5 readings over at 10/s: half a second')
  t.equal(limiter.take('v1', 5), 1000, 'the debt adds up')
  now += 1000
  t.equal(limiter.take('v1', 0), 0, 'taking nothing never waits')
  t.equal(limiter.take('v1', 1), 100, 'a second refilled 10 of the 10 owed, one more is over')
})

t.test('vehicles have buckets of their own; forget starts one afresh', async t => {
  let now = 0
  const limiter = createRateLimiter(1, () => now)
  t.equal(limiter.take('a', 3), 1000)
  t.equal(limiter.take('b', 2), 0, 'b is not charged for a')
  limiter.forget('a')
  t.equal(limiter.take('a', 2), 0, 'a full bucket again')
  now += 60000
  t.equal(limiter.take('b', 3), 1000, 'an idle minute refills to the burst, not beyond')
})

t.test('a rate of 0 is no limit', async t => {
  const limiter = createRateLimiter(0, () => 0)
  t.equal(limiter.take('v1', 1e6), 0)
})
