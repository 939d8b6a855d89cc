// Slow and dead clients on real parts: a WebSocket client that stops reading
// must cost the api a bounded amount while 40,000 readings flow to a healthy
// client beside it, be conflated, then be closed with a reason; one stall
// rule decides, not a race with the heartbeat, and the close frame reaches a
// client that reads again; a peer that stops answering pings is dropped.
import t from 'tap'
import type { Socket } from 'node:net'
import { startQuestDbForTest, startStack, pollUntil, type Stack } from '../../../test/helper.js'
import { createLiveMetrics, metricValue } from '../../src/live/live-metrics.js'
import { openLive, subscribe, connectFleet, startApi, reading, wsUrl, type LiveConn } from '../live-helper.js'
import type { Position } from '../../../schemas/live.js'

let stack: Stack

t.before(async () => {
  const db = await startQuestDbForTest(t)
  stack = await startStack(t, db)
})

function socketOf (c: LiveConn): Socket {
  return (c.ws as unknown as { _socket: Socket })._socket
}

const SOFT_BUFFER = 64 * 1024
// What the api may hold for the stalled client: the soft bound, one chunk of
// a message (64 KiB) and one conflated batch (one position per vehicle). On loopback the kernel's socket
// buffers hold megabytes of a connection that is not read (the send buffer
// autotunes up to tcp_wmem's maximum, 4 MiB by default), so a flow smaller
// than that would never reach the api's own memory: the flow is 40,000
// readings, several times the kernel's share, and without the protection the
// rest would wait in the api's send buffer.
const BOUND = 512 * 1024
const VEHICLES = 40
const PER = 1000
const BATCH = 100
const TOTAL = VEHICLES * PER

t.test('a client that never reads stays bounded while 40,000 readings flow, then is closed as too slow', async t => {
  const metrics = createLiveMetrics()
  const api = await startApi(t, stack, { liveFeed: { metrics, limits: { softBufferBytes: SOFT_BUFFER, stallTimeoutMs: 2000, closeGraceMs: 30000 } } })
  const vs = Array.from({ length: VEHICLES }, (_, i) => `slow-${i}`)
  const fleet = await connectFleet(t, stack, vs)
  const stalled = await openLive(t, wsUrl(api.url))
  await subscribe(stalled, { vehicles: '*' })
  socketOf(stalled).pause()
  const healthy = await openLive(t, wsUrl(api.url))
  await subscribe(healthy, { vehicles: vs })

  let maxBuffered = 0
  let maxQueued = 0
  const sampler = setInterval(() => {
    void Promise.all([metricValue(metrics.maxBufferedBytes), metricValue(metrics.queuedPositions)]).then(([b, q]) => {
      maxBuffered = Math.max(maxBuffered, b)
      maxQueued = Math.max(maxQueued, q)
    })
  }, 10)
  t.teardown(() => clearInterval(sampler))
  const heap0 = process.memoryUsage()

  const base = Date.now() - 250000
  const t0 = Date.now()
  for (let b = 0; b < PER / BATCH; b++) {
    await Promise.all(vs.map((id, v) => fleet.publish(id, Array.from({ length: BATCH }, (_, i) => {
      const seq = b * BATCH + i
      return reading(seq, -26 + v / 100, 28 + seq / 10000, base + seq * 100 + v)
    }))))
  }
  await pollUntil(async () => healthy.positions.length >= TOTAL, 30000, `the healthy client gets all ${TOTAL}`)
  const heap1 = process.memoryUsage()
  clearInterval(sampler)
  t.comment(`${TOTAL} readings published and delivered in ${Date.now() - t0} ms`)
  t.equal(healthy.positions.length, TOTAL, 'the healthy client got every reading, not slowed by the stalled one')
  t.comment(`stalled client: max server-side buffered ${maxBuffered} B, max queued positions ${maxQueued}; heap delta ${((heap1.heapUsed - heap0.heapUsed) / 1e6).toFixed(1)} MB, rss delta ${((heap1.rss - heap0.rss) / 1e6).toFixed(1)} MB (gateway in the same process)`)
  t.ok(maxBuffered <= BOUND, `server-side buffered bytes for the stalled client stay under ${BOUND} (max ${maxBuffered})`)
  t.ok(maxQueued <= vs.length, `queued positions stay at most one per vehicle once conflating (max ${maxQueued})`)

  await pollUntil(async () => await metricValue(metrics.clientsClosed, { reason: 'slow' }) === 1, 10000, 'closed as too slow')
  socketOf(stalled).resume()
  const closed = await stalled.closed
  t.equal(closed.code, 4008, 'close code 4008')
  t.match(closed.reason, /^client too slow: /, 'with a reason')
  t.ok(stalled.messages.some(m => m.type === 'notice' && m.code === 'conflating'), 'it was told it is being conflated first')
  t.ok(healthy.ws.readyState === healthy.ws.OPEN, 'the healthy client is still connected')
})

t.test('a peer that stops answering pings is dropped', async t => {
  const metrics = createLiveMetrics()
  const api = await startApi(t, stack, { liveFeed: { metrics, limits: { heartbeatMs: 200 } } })
  const dead = await openLive(t, wsUrl(api.url))
  await subscribe(dead, { vehicles: '*' })
  const alive = await openLive(t, wsUrl(api.url))
  await subscribe(alive, { vehicles: '*' })
  socketOf(dead).pause()
  await pollUntil(async () => await metricValue(metrics.clientsClosed, { reason: 'dead_peer' }) === 1, 5000, 'dead peer dropped')
  await pollUntil(async () => await metricValue(metrics.clients) === 1, 5000, 'one client left')
  await alive.barrier()
  t.pass('the peer that answers pings stays')
  // a peer that was only paused learns why when it reads again
  socketOf(dead).resume()
  const closed = await dead.closed
  t.equal(closed.code, 4008, 'close code 4008, not 1006')
  t.match(closed.reason, /^client too slow: no answer to a ping for 200 ms$/)
})

const positionsOf = (n: number, from: number, vehicles: number): Position[] =>
  Array.from({ length: n }, (_, i) => ({ vehicle_id: `stall-${(from + i) % vehicles}`, ...reading(from + i, -26 + i / 1e6, 28, Date.now() - 60000) }) as unknown as Position)

t.test('a client that stops reading under a heavy flow: the stall rule closes it (4008), not the heartbeat, and the close frame reaches it when it reads again', async t => {
  const metrics = createLiveMetrics()
  // the heartbeat far shorter than the stall timeout: the race the issue saw with 30 s each
  const limits = { heartbeatMs: 200, stallTimeoutMs: 2000, closeGraceMs: 300 }
  const api = await startApi(t, stack, { liveFeed: { metrics, limits } })
  const stalled = await openLive(t, wsUrl(api.url))
  await subscribe(stalled, { vehicles: '*' })
  socketOf(stalled).pause()
  // positions straight onto the live bus, far more than the kernel's socket buffers hold, until the feed gives up on it
  let seq = 0
  const slow = async (): Promise<number> => await metricValue(metrics.clientsClosed, { reason: 'slow' })
  const dead = async (): Promise<number> => await metricValue(metrics.clientsClosed, { reason: 'dead_peer' })
  const deadline = Date.now() + 30000
  while (await slow() === 0 && await dead() === 0 && Date.now() < deadline) {
    stack.gw.gateway.live.publish({ kind: 'telemetry', vehicleId: 'stall-0', items: positionsOf(2000, seq, 500) })
    seq += 2000
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  t.equal(await dead(), 0, 'not dropped by the heartbeat: its pings wait behind the unread data')
  t.equal(await slow(), 1, `closed as too slow after ${seq} positions`)
  // the client stays paused past the grace a reading peer gets for the close handshake
  await new Promise(resolve => setTimeout(resolve, limits.closeGraceMs * 3))
  socketOf(stalled).resume()
  const closed = await stalled.closed
  t.equal(closed.code, 4008, 'close code 4008 reaches it, not 1006')
  t.match(closed.reason, /^client too slow: send buffer not drained for 2000 ms$/)
  t.ok(stalled.messages.some(m => m.type === 'notice' && m.code === 'conflating'), 'and the conflating notice before it')
})
