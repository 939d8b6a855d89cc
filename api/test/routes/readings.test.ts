// GET and POST /vehicles/:id/readings on a real QuestDB, seeded through POST,
// with the process in a non-UTC zone: timestamps must come out UTC with their
// microseconds whatever the local zone.
import t from 'tap'
import { startApiStack, call, ingest, conforms, RFC3339_MICROS } from '../fixture.js'
import { pollCount } from '../../../test/helper.js'

process.env.TZ = 'Asia/Kolkata'

const DAY = 86400e3
const N = 100_000

t.test('readings', async t => {
  t.equal(new Date(0).getTimezoneOffset(), -330, 'the test runs in Asia/Kolkata')
  const s = await startApiStack(t)
  // 100,000 readings at 1 Hz (27.8 h) starting 10 minutes before a midnight,
  // so the range crosses partitions: the midnight of two days ago, so the
  // range ends at least 20 h before now (from yesterday's midnight it reached
  // up to 3.6 h ahead of a clock before 03:37 UTC: rejected as future_ts)
  const midnight = Math.floor(Date.now() / DAY) * DAY - 2 * DAY
  const start = midnight - 600e3
  const big = Array.from({ length: N }, (_, i) => ({ ts: start + i * 1000, seq: i, lat: 10 + i / 1e6, lon: 20, speed_kmh: 50 }))
  t.equal(await ingest(s, 'big-1', big), N, 'every reading accepted')
  // a few with microseconds
  const micro = ['.000001', '.123456', '.999999'].map((f, i) => ({ ts: new Date(midnight + 3600e3 * (i + 1)).toISOString().replace('.000', f), lat: 1, lon: 2 }))
  t.equal(await ingest(s, 'micro-1', micro), 3)
  t.equal(await pollCount(s.pgUrl, 'SELECT count() n FROM readings', N + 3), N + 3, 'all stored')

  t.test('every row exactly once over 100,000 rows, while another vehicle keeps ingesting', async t => {
    const from = new Date(start).toISOString()
    const to = new Date(start + N * 1000).toISOString()
    const seen = new Set<number>()
    let cursor: string | null = null
    let pages = 0
    let writes = 0
    let stop = false
    const writer = (async () => {
      while (!stop && writes < 50) {
        await ingest(s, 'big-2', Array.from({ length: 200 }, (_, i) => ({ ts: start + writes * 200_000 + i * 1000, lat: 0, lon: 0 })))
        writes++
      }
    })()
    do {
      const r: { status: number, body: { readings: Array<{ seq: number, ts: string }>, next_cursor: string | null } } =
        await call(s, `/api/v1/vehicles/big-1/readings?from=${from}&to=${to}&limit=10000${cursor ? `&cursor=${cursor}` : ''}`, { key: s.keys.read })
      t.equal(r.status, 200)
      if (pages === 0) conforms(t, 'readings-page', r.body)
      for (const x of r.body.readings) {
        if (seen.has(x.seq)) t.fail(`seq ${x.seq} twice`)
        seen.add(x.seq)
      }
      cursor = r.body.next_cursor
      pages++
    } while (cursor && pages < 20)
    stop = true
    await writer
    t.equal(seen.size, N, 'each of the 100,000 rows once')
    t.equal(pages, 11, '10 full pages, then an empty one ends it')
  })

  t.test('newest first (order=desc): every row exactly once over 100,000 rows, in descending order', async t => {
    const from = new Date(start).toISOString()
    const to = new Date(start + N * 1000).toISOString()
    let expected = N - 1
    let wrong = 0
    let cursor: string | null = null
    let pages = 0
    do {
      const r: { status: number, body: { readings: Array<{ seq: number }>, next_cursor: string | null } } =
        await call(s, `/api/v1/vehicles/big-1/readings?from=${from}&to=${to}&limit=10000&order=desc${cursor ? `&cursor=${cursor}` : ''}`, { key: s.keys.read })
      t.equal(r.status, 200)
      for (const x of r.body.readings) if (x.seq !== expected--) wrong++
      cursor = r.body.next_cursor
      pages++
    } while (cursor && pages < 20)
    t.equal(wrong, 0, 'seq from 99,999 down to 0, none missing, none twice')
    t.equal(expected, -1, 'down to the oldest')
    t.equal(pages, 11, '10 full pages, then an empty one ends it')
  })

  t.test('microseconds and UTC whatever the local zone', async t => {
    const r = await call(s, `/api/v1/vehicles/micro-1/readings?from=${new Date(midnight).toISOString()}&to=${new Date(midnight + DAY).toISOString()}`, { key: s.keys.read })
    t.equal(r.status, 200)
    t.same(r.body.readings.map((x: { ts: string }) => x.ts), micro.map(m => m.ts.replace('Z', '') + 'Z').map(x => x.length === 27 ? x : x), 'ts as sent, to the microsecond')
    t.ok(r.body.readings.every((x: { ts: string, received_at: string }) => RFC3339_MICROS.test(x.ts) && RFC3339_MICROS.test(x.received_at)))
  })

  t.test('edges: empty range, no such vehicle, bounds, bad cursor', async t => {
    const empty = await call(s, `/api/v1/vehicles/nobody/readings?from=${new Date(midnight).toISOString()}&to=${new Date(midnight + 1000).toISOString()}`, { key: s.keys.read })
    t.equal(empty.status, 200)
    t.same(empty.body, { vehicle_id: 'nobody', readings: [], next_cursor: null })
    const cases: Array<[string, number, string]> = [
      ['?limit=0', 400, 'API_ERR_VALIDATION'],
      ['?limit=10001', 400, 'API_ERR_VALIDATION'],
      ['?from=yesterday', 400, 'API_ERR_VALIDATION'],
      ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 400, 'API_ERR_BAD_RANGE'],
      ['?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 400, 'API_ERR_RANGE_TOO_LARGE'],
      ['?cursor=bm90LWEtY3Vyc29y', 400, 'API_ERR_BAD_CURSOR'],
      ['?unknown=1', 400, 'API_ERR_VALIDATION']
    ]
    for (const [q, status, code] of cases) {
      const r = await call(s, `/api/v1/vehicles/big-1/readings${q}`, { key: s.keys.read })
      t.equal(r.status, status, q)
      t.equal(r.body.code, code, q)
      t.match(r.headers.get('content-type'), /^application\/problem\+json/)
      t.ok(r.body.detail.length > 5, `useful detail: ${r.body.detail}`)
    }
    const badId = await call(s, '/api/v1/vehicles/a%20b/readings', { key: s.keys.read })
    t.equal(badId.status, 400)
  })

  t.test('POST: per-item results, quarantine, durability, roles', async t => {
    const now = Date.now()
    const r = await call(s, '/api/v1/vehicles/post-1/readings', {
      method: 'POST',
      key: s.keys.ingest,
      body: [{ ts: now - 1000, lat: 1, lon: 1 }, { ts: now - 500, lat: 100, lon: 1 }, { ts: now + 3600e3, lat: 1, lon: 1 }, { ts: now - 100, lat: 1, lon: 1, bogus: 1 }]
    })
    t.equal(r.status, 200)
    conforms(t, 'ingest-result', r.body)
    t.equal(r.body.accepted, 1)
    t.same(r.body.results.map((x: { index: number, reason: string }) => [x.index, x.reason]), [[1, 'schema'], [2, 'future_ts'], [3, 'schema']])
    // answered once durable: the accepted row is committed (visible once the WAL is applied)
    t.equal(await pollCount(s.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'post-1'", 1), 1)
    t.equal(await pollCount(s.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'post-1'", 3), 3, 'rejected items quarantined')
    const forbidden = await call(s, '/api/v1/vehicles/post-1/readings', { method: 'POST', key: s.keys.read, body: [{ ts: now, lat: 1, lon: 1 }] })
    t.equal(forbidden.status, 403)
    const notArray = await call(s, '/api/v1/vehicles/post-1/readings', { method: 'POST', key: s.keys.ingest, body: { ts: now, lat: 1, lon: 1 } })
    t.equal(notArray.status, 400)
    const tooMany = await call(s, '/api/v1/vehicles/post-1/readings', { method: 'POST', key: s.keys.ingest, body: Array.from({ length: 1001 }, () => ({ ts: now, lat: 1, lon: 1 })) })
    t.equal(tooMany.status, 400)
    const bad = await fetch(s.httpUrl + '/api/v1/vehicles/post-1/readings', { method: 'POST', headers: { authorization: `Bearer ${s.keys.ingest}`, 'content-type': 'application/json' }, body: '[{"ts": ' })
    t.equal(bad.status, 400)
    t.equal((await bad.json() as { code: string }).code, 'API_ERR_BAD_REQUEST')
  })
})
