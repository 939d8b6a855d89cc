// The live feed with API keys required (the default): it shows every
// vehicle's positions, so it needs the read role, as GET /positions does; a
// browser's subprotocol list `fleetgate.v1, bearer.<key>` gets fleetgate.v1.
import t from 'tap'
import { request } from 'node:http'
import { startApiStack, call } from '../fixture.js'
import { openLive, subscribe, wsUrl } from '../live-helper.js'

t.test('the live feed needs the read role', async t => {
  const s = await startApiStack(t)
  const url = wsUrl(s.httpUrl)
  const status = async (opts: Parameters<typeof openLive>[2]): Promise<number> =>
    await openLive(t, url, opts).then(() => 101, (e: { statusCode?: number }) => e.statusCode ?? 0)

  t.equal((await call(s, '/api/v1/positions?bbox=-180,-90,180,90', { key: s.keys.ingest })).status, 403, 'GET /positions refuses an ingest key')
  t.equal(await status({ headers: { authorization: `Bearer ${s.keys.ingest}` } }), 403, 'so does the live feed, key in the header')
  t.equal(await status({ protocols: ['fleetgate.v1', `bearer.${s.keys.ingest}`] }), 403, 'key as a subprotocol')
  t.equal(await status({}), 401, 'no key: 401')
  t.equal(await status({ headers: { authorization: 'Bearer fgk_unknown' } }), 401, 'unknown key: 401')

  // the refusal itself, as an HTTP client sees it before any WebSocket exists
  const refused = await new Promise<{ status: number, type: string, body: string }>((resolve, reject) => {
    const req = request(url.replace(/^ws/, 'http'), { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: `Bearer ${s.keys.ingest}` } })
    req.on('response', res => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }))
    })
    req.on('upgrade', () => reject(new Error('upgraded')))
    req.on('error', reject)
    req.end()
  })
  t.equal(refused.status, 403)
  t.match(refused.type, /^application\/problem\+json/)
  t.match(JSON.parse(refused.body), { code: 'API_ERR_FORBIDDEN', detail: /read role/ })

  for (const role of ['read', 'admin'] as const) {
    const c = await openLive(t, url, { protocols: ['fleetgate.v1', `bearer.${s.keys[role]}`] })
    t.equal(c.ws.protocol, 'fleetgate.v1', `${role}: the server selects fleetgate.v1, never the key`)
    t.same(await subscribe(c, { vehicles: ['nobody'] }), [], `${role}: subscribed`)
  }
})
