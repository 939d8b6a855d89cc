// The api's HTTP server bounds how long a client may take to send its
// headers and its request, and how long an idle keep-alive connection stays
// open (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS,
// HTTP_KEEP_ALIVE_TIMEOUT_MS); an upgraded live-feed WebSocket is not bound.
import t from 'tap'
import { connect, type Socket } from 'node:net'
import WebSocket from 'ws'
import { loadConfig } from '../../schemas/config.js'
import { startQuestDbForTest } from '../../test/helper.js'
import { startApiStack } from './fixture.js'

interface Ended { data: string, closed: boolean }

/** A raw connection to the api: writes `head` and then nothing more; resolves when the server ends it (or after `failAfterMs`, with closed false). */
async function stall (url: string, head: string, failAfterMs: number): Promise<Ended> {
  const { port } = new URL(url)
  const socket: Socket = connect(Number(port), '127.0.0.1')
  let data = ''
  socket.on('data', (b: Buffer) => { data += b.toString() })
  socket.on('error', () => {})
  socket.write(head)
  return await new Promise<Ended>(resolve => {
    const timer = setTimeout(() => { socket.destroy(); resolve({ data, closed: false }) }, failAfterMs)
    socket.once('close', () => { clearTimeout(timer); resolve({ data, closed: true }) })
  })
}

t.test('defaults: 10 s for headers, 30 s for a request, 72 s idle keep-alive, applied to the server', async t => {
  const config = loadConfig({})
  t.equal(config.HTTP_HEADERS_TIMEOUT_MS, 10000)
  t.equal(config.HTTP_REQUEST_TIMEOUT_MS, 30000)
  t.equal(config.HTTP_KEEP_ALIVE_TIMEOUT_MS, 72000)
  t.throws(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '40000' }), /HTTP_HEADERS_TIMEOUT_MS \(40000\) must not exceed HTTP_REQUEST_TIMEOUT_MS/)
  const db = await startQuestDbForTest(t)
  const s = await startApiStack(t, {}, db)
  const server = s.api.fastify.server
  t.equal(server.headersTimeout, 10000)
  t.equal(server.requestTimeout, 30000)
  t.equal(server.keepAliveTimeout, 72000)

  t.test('short timeouts: slow clients are answered 408 and closed, idle ones closed, the live feed stays', async t => {
    const s = await startApiStack(t, { HTTP_HEADERS_TIMEOUT_MS: 1000, HTTP_REQUEST_TIMEOUT_MS: 2000, HTTP_KEEP_ALIVE_TIMEOUT_MS: 1000 }, db)
    // a live-feed client, open before the slow ones and checked after them
    const ws = new WebSocket(s.httpUrl.replace(/^http/, 'ws') + '/api/v1/live', { headers: { authorization: `Bearer ${s.keys.read}` } })
    t.teardown(() => ws.terminate())
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })

    // Node's own defaults would keep these for a minute and more; failing after 20 s keeps a regression from hanging the run
    const headers = await stall(s.httpUrl, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a', 20000)
    t.ok(headers.closed, 'a client that never ends its headers is closed')
    t.match(headers.data, /^HTTP\/1\.1 408 /, 'with 408 Request Timeout')

    const body = await stall(s.httpUrl, `POST /api/v1/vehicles/slow-1/readings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.keys.ingest}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"ts":`, 20000)
    t.ok(body.closed, 'a client that never ends its body is closed')
    t.match(body.data, /^HTTP\/1\.1 408 /, 'with 408 Request Timeout')

    const idle = await stall(s.httpUrl, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n', 20000)
    t.match(idle.data, /^HTTP\/1\.1 200 /, 'the request is answered')
    t.match(idle.data, /keep-alive: timeout=1/i, 'the keep-alive timeout is announced')
    t.ok(idle.closed, 'and the idle connection is closed afterwards')

    // the WebSocket has been open longer than the request timeout
    t.equal(ws.readyState, WebSocket.OPEN, 'the live feed is still open')
    const pong = new Promise(resolve => ws.once('pong', resolve))
    ws.ping()
    await pong
    t.pass('and answers a ping')
  })
})
