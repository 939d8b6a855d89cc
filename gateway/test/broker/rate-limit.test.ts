// The per-vehicle token bucket: a debt outlives the session, a handed-over
// budget is charged on top of what was spent since, full buckets are swept.
import t from 'tap'
import { BURST_SECONDS, createRateLimiter } from '../../src/broker/rate-limit.js'

function clock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000_000
  return { now: () => t, advance: ms => { t += ms } }
}

t.test('over budget: the wait until the debt is paid', async t => {
  const c = clock()
  const l = createRateLimiter(10, c.now)
  t.equal(l.take('v', 20), 0, 'a burst of 2 s worth is free')
  t.equal(l.take('v', 10), 1000, '10 more at 10/s: 1 s')
  t.equal(l.budget('v'), -10)
  c.advance(1000)
  t.equal(l.budget('v'), 0, 'refilled at the rate')
  c.advance(2000)
  t.equal(l.budget('v'), null, 'full: nothing to hand over')
  t.equal(createRateLimiter(0, c.now).take('v', 1e6), 0, '0: unlimited')
})

t.test('a handed-over budget is charged on top of what was spent here since', async t => {
  const c = clock()
  const l = createRateLimiter(10, c.now)
  l.take('v', 5)
  l.absorb('v', -30)
  t.equal(l.budget('v'), -35, 'spent 5 here, 50 over the burst elsewhere')
  t.equal(l.take('v', 1), 3600, 'and stays throttled')
  const fresh = createRateLimiter(10, c.now)
  fresh.absorb('w', 20)
  t.equal(fresh.budget('w'), null, 'a full budget handed over changes nothing')
  fresh.absorb('w', Number.NaN)
  t.equal(fresh.budget('w'), null, 'nor does garbage')
})

t.test('full buckets are swept; a debt is kept', async t => {
  const c = clock()
  const l = createRateLimiter(10, c.now)
  for (let i = 0; i < 100; i++) l.take(`v${i}`, 1)
  l.take('debtor', 1000)
  c.advance(11000)
  l.take('other', 1)
  t.equal(l.size(), 2, 'the debtor and the one that just took')
  t.ok((l.budget('debtor') as number) < 0, 'the debt outlives any session')
})

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

t.test('a rate of 0 is no limit', async t => {
  const limiter = createRateLimiter(0, () => 0)
  t.equal(limiter.take('v1', 1e6), 0)
})
