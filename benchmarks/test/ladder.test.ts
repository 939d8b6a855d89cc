import t from 'tap'
import { climb } from '../harness/ladder.js'

// a system that holds up to `capacity` readings/s
function system (capacity: number): { tried: number[], step: (rate: number) => Promise<boolean> } {
  const tried: number[] = []
  return { tried, step: async rate => { tried.push(rate); return rate <= capacity } }
}

t.test('climbs by the factor, then halves the gap to the first rate that failed', async t => {
  const s = system(31000)
  const r = await climb({ start: 15000, max: 200000, factor: 1.3, refine: 2 }, s.step)
  t.same(s.tried, [15000, 19500, 25350, 32955, 29153, 31054])
  t.same(r, { held: 29153, failed: 31054 })
})

t.test('without refinement the ladder stops at the first failure', async t => {
  const s = system(31000)
  t.same(await climb({ start: 15000, max: 200000, factor: 1.3, refine: 0 }, s.step), { held: 25350, failed: 32955 })
  t.same(s.tried, [15000, 19500, 25350, 32955])
})

t.test('a first step that fails is refined downwards from zero', async t => {
  const s = system(6000)
  t.same(await climb({ start: 10000, max: 200000, factor: 1.5, refine: 3 }, s.step), { held: 5000, failed: 6250 })
  t.same(s.tried, [10000, 5000, 7500, 6250])
})

t.test('nothing to refine when every step up to max held', async t => {
  const s = system(1e9)
  t.same(await climb({ start: 10000, max: 30000, factor: 2, refine: 3 }, s.step), { held: 20000, failed: 0 })
  t.same(s.tried, [10000, 20000])
})
