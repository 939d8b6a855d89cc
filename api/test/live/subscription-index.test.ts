// The subscription index against the plain predicate: same clients for every
// position, over random boxes (some crossing the antimeridian) and id lists.
import t from 'tap'
import { SubscriptionIndex } from '../../src/live/subscription-index.js'
import { matches, type Subscription } from '../../src/live/subscription.js'

function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

t.test('index agrees with the predicate', async t => {
  const rand = rng(42)
  const vehicles = Array.from({ length: 200 }, (_, i) => `v${i}`)
  const subs: Subscription[] = []
  for (let i = 0; i < 300; i++) {
    const kind = i % 4
    const lon = rand() * 360 - 180
    const lat = rand() * 170 - 85
    const w = rand() * (i % 7 === 0 ? 120 : 8)
    const h = rand() * 20
    let maxLon = lon + w
    if (maxLon > 180) maxLon -= 360 // crosses the antimeridian
    const bbox: [number, number, number, number] = [lon, Math.max(-90, lat - h), maxLon, Math.min(90, lat + h)]
    const list = new Set(vehicles.filter(() => rand() < 0.05))
    subs.push({
      all: kind === 0 || kind === 1,
      ids: kind >= 2 ? list : new Set(),
      bbox: kind === 1 || kind === 3 ? bbox : null,
      maxHz: 0
    })
  }
  const index = new SubscriptionIndex<number>()
  subs.forEach((s, i) => index.set(i, s))
  // replace and delete some, as subscription changes do
  for (let i = 0; i < 300; i += 10) index.set(i, subs[(i + 5) % 300] as Subscription)
  for (let i = 3; i < 300; i += 25) index.delete(i)
  const current = new Map<number, Subscription>()
  subs.forEach((s, i) => current.set(i, s))
  for (let i = 0; i < 300; i += 10) current.set(i, subs[(i + 5) % 300] as Subscription)
  for (let i = 3; i < 300; i += 25) current.delete(i)
  t.equal(index.size, current.size)

  let mismatches = 0
  let matched = 0
  for (let n = 0; n < 20000; n++) {
    const id = vehicles[Math.floor(rand() * vehicles.length)] as string
    const lat = n % 50 === 0 ? 90 : rand() * 180 - 90
    const lon = n % 60 === 0 ? (n % 120 === 0 ? 180 : -180) : rand() * 360 - 180
    const want = [...current].filter(([, s]) => matches(s, id, lat, lon)).map(([k]) => k).sort((a, b) => a - b)
    const got: number[] = []
    index.forEachMatch(id, lat, lon, k => got.push(k))
    got.sort((a, b) => a - b)
    matched += got.length
    if (want.join() !== got.join()) mismatches++
  }
  t.equal(mismatches, 0, 'same subscriptions as the predicate for 20,000 positions')
  t.ok(matched > 0, 'and some matched')
})
