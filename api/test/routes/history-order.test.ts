// order=asc|desc on readings, events and rejections: keyset pages in either
// order give every row once, desc is asc reversed, a cursor only continues
// the order it was issued for; and numeric parameters that are not finite are
// validation errors, not QuestDB failures.
import t from 'tap'
import { startApiStack, call, conforms, ingest, publish, type ApiStack } from '../fixture.js'
import { pollCount } from '../../../test/helper.js'

interface Page<T> { status: number, body: T & { next_cursor: string | null, code?: string } }

/** Every page of a listing (at most 50 pages), concatenated. */
async function walk<T> (s: ApiStack, path: string, pick: (b: any) => T[]): Promise<{ rows: T[], pages: number }> {
  const rows: T[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const r: Page<unknown> = await call(s, `${path}${cursor ? `&cursor=${cursor}` : ''}`, { key: s.keys.read })
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`)
    rows.push(...pick(r.body))
    cursor = r.body.next_cursor
    pages++
  } while (cursor && pages < 50)
  return { rows, pages }
}

t.test('order=asc|desc, keyset-paginated both ways', async t => {
  const s = await startApiStack(t)
  const now = Date.now()
  const base = now - 3600e3
  const from = new Date(base - 60e3).toISOString()
  const to = new Date(now + 60e3).toISOString()

  // 23 readings: pages of 5 end with a partial one
  t.equal(await ingest(s, 'ord-1', Array.from({ length: 23 }, (_, i) => ({ ts: base + i * 1000, seq: i, lat: 1, lon: 2 }))), 23)
  // events: three instants with two or three types each, so pages cut between ties on ts
  const events = [0, 1, 2].flatMap(k => (k === 1 ? ['panic', 'dtc'] : ['dtc', 'overspeed', 'panic']).map(type => ({ ts: new Date(base + k * 1000).toISOString(), type })))
  await publish(t, s, 'ord-1', 'events', [JSON.stringify(events)])
  // rejections: one per request, of three vehicles
  for (let i = 0; i < 9; i++) {
    const r = await call(s, `/api/v1/vehicles/ord-r${i % 3}/readings`, { method: 'POST', key: s.keys.ingest, body: [{ ts: now - i, lat: 91, lon: 0 }] })
    t.equal(r.body.rejected, 1)
  }
  await pollCount(s.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'ord-1'", 23)
  await pollCount(s.pgUrl, "SELECT count() n FROM events WHERE vehicle_id = 'ord-1'", events.length)
  await pollCount(s.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id LIKE 'ord-r%'", 9)

  const listings = [
    { name: 'readings', path: `/api/v1/vehicles/ord-1/readings?from=${from}&to=${to}`, pick: (b: any) => b.readings.map((r: { ts: string, seq: number }) => `${r.ts}/${r.seq}`), n: 23, schema: 'readings-page' },
    { name: 'events', path: `/api/v1/vehicles/ord-1/events?from=${from}&to=${to}`, pick: (b: any) => b.events.map((e: { ts: string, type: string }) => `${e.ts}/${e.type}`), n: events.length, schema: 'event-list' },
    { name: 'rejections', path: `/api/v1/rejections?from=${from}&to=${to}&vehicle_id=ord-r1`, pick: (b: any) => b.rejections.map((r: { ts: string, vehicle_id: string }) => `${r.ts}/${r.vehicle_id}`), n: 3, schema: 'rejection-list' },
    { name: 'rejections of every vehicle', path: `/api/v1/rejections?from=${from}&to=${to}`, pick: (b: any) => b.rejections.map((r: { ts: string, vehicle_id: string }) => `${r.ts}/${r.vehicle_id}`), n: 9, schema: 'rejection-list' }
  ]
  for (const l of listings) {
    t.test(l.name, async t => {
      const asc = await call(s, `${l.path}&limit=1000`, { key: s.keys.read })
      const desc = await call(s, `${l.path}&limit=1000&order=desc`, { key: s.keys.read })
      conforms(t, l.schema, desc.body)
      const ascRows: string[] = l.pick(asc.body)
      const descRows: string[] = l.pick(desc.body)
      t.equal(ascRows.length, l.n, `${l.n} rows`)
      t.same(await call(s, `${l.path}&limit=1000&order=asc`, { key: s.keys.read }).then(r => l.pick(r.body)), ascRows, 'order=asc is the default')
      t.same([...ascRows].sort(), ascRows, 'asc: oldest first')
      t.same(descRows, [...ascRows].reverse(), 'desc: newest first, the same rows')
      for (const limit of [1, 2, 4]) {
        const up = await walk(s, `${l.path}&limit=${limit}&order=asc`, l.pick)
        const down = await walk(s, `${l.path}&limit=${limit}&order=desc`, l.pick)
        t.same(up.rows, ascRows, `asc pages of ${limit}: every row once, in order`)
        t.same(down.rows, descRows, `desc pages of ${limit}: every row once, in order`)
        t.ok(down.pages >= Math.ceil(l.n / limit), `${down.pages} desc pages of ${limit}`)
      }
      const first = await call(s, `${l.path}&limit=2&order=desc`, { key: s.keys.read })
      t.same(l.pick(first.body), descRows.slice(0, 2), 'the first desc page holds the newest rows')
      const mixed = await call(s, `${l.path}&limit=2&order=asc&cursor=${first.body.next_cursor as string}`, { key: s.keys.read })
      t.equal(mixed.status, 400, 'a desc cursor with order=asc is refused')
      t.equal(mixed.body.code, 'API_ERR_BAD_CURSOR')
      const firstUp = await call(s, `${l.path}&limit=2`, { key: s.keys.read })
      const mixedUp = await call(s, `${l.path}&limit=2&order=desc&cursor=${firstUp.body.next_cursor as string}`, { key: s.keys.read })
      t.equal(mixedUp.status, 400, 'an asc cursor with order=desc is refused')
      t.equal(mixedUp.body.code, 'API_ERR_BAD_CURSOR')
      const bad = await call(s, `${l.path}&order=newest`, { key: s.keys.read })
      t.equal(bad.status, 400)
      t.equal(bad.body.code, 'API_ERR_VALIDATION')
    })
  }

  t.test('numeric parameters must be finite: 400 API_ERR_VALIDATION, like a number over the bound', async t => {
    const paths = [
      '/api/v1/rejections?limit=',
      '/api/v1/vehicles/ord-1/readings?limit=',
      '/api/v1/vehicles/ord-1/events?limit=',
      '/api/v1/vehicles/ord-1/track?max_points='
    ]
    for (const p of paths) {
      for (const v of ['1e309', '-1e309', '1000000000']) {
        const r = await call(s, p + v, { key: s.keys.read })
        t.equal(r.status, 400, `${p}${v}`)
        t.equal(r.body.code, 'API_ERR_VALIDATION', `${p}${v}: ${r.body.detail as string}`)
        t.match(r.headers.get('content-type'), /^application\/problem\+json/)
      }
    }
    const bbox = await call(s, '/api/v1/positions?bbox=1e309,0,1,1', { key: s.keys.read })
    t.equal(bbox.status, 400, 'a bbox corner of 1e309')
    t.equal(bbox.body.code, 'API_ERR_BAD_BBOX')
  })
})
