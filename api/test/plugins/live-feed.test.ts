// The live feed on real parts: managed QuestDB, gateway, api instances (on the
// in-process bus and through the broker), real MQTT vehicles and WebSocket
// clients. One QuestDB for the file; each subtest uses its own vehicle ids.
import t from 'tap'
import WebSocket from 'ws'
import mqtt from 'mqtt'
import { busy, startQuestDbForTest, startStack, pollCount, pollUntil, type Stack } from '../../../test/helper.js'
import { INTERNAL_CLIENT_PREFIX, INTERNAL_USERNAME, LIVE_BATCH_TOPIC, LIVE_TOPIC_FILTER } from '../../../schemas/topics.js'
import { LIVE_BATCH_MAX_MS } from '../../../lib/live-bus.js'
import type { LiveMessage, Position } from '../../../schemas/live.js'
import { DEFAULT_LIMITS } from '../../src/live/live-client.js'
import { createLiveMetrics, metricValue } from '../../src/live/live-metrics.js'
import { openLive, subscribe, connectFleet, startApi, reading, ids, wsUrl, type LiveConn } from '../live-helper.js'

let stack: Stack

t.before(async () => {
  const db = await startQuestDbForTest(t)
  stack = await startStack(t, db)
})

// A spot on either side of the antimeridian, one at 0/0 and two in Johannesburg.
const SPOTS: Record<string, [number, number]> = { a: [10, 179.5], b: [10, -179.5], c: [10, 0], d: [-26.2, 28.0], e: [-26.1, 28.1] }

t.test('filters: lists, boxes (across the antimeridian), both; events to their vehicle', async t => {
  const vid = (k: string): string => `flt-${k}`
  const fleet = await connectFleet(t, stack, Object.keys(SPOTS).map(vid))
  const url = wsUrl(stack.httpUrl)
  const clients: Array<[string, Record<string, unknown>, string[]]> = [
    ['list', { vehicles: [vid('a'), vid('d')] }, ['a', 'd']],
    ['antimeridian box', { vehicles: '*', bbox: [170, 0, -170, 20] }, ['a', 'b']],
    ['city box', { bbox: [27.5, -26.5, 28.5, -25.5] }, ['d', 'e']],
    ['list and box', { vehicles: [vid('a'), vid('c'), vid('d')], bbox: [-10, 0, 10, 20] }, ['c']],
    ['everything', { vehicles: '*' }, ['a', 'b', 'c', 'd', 'e']]
  ]
  const conns: LiveConn[] = []
  for (const [, sub] of clients) {
    const c = await openLive(t, url)
    await subscribe(c, sub)
    conns.push(c)
  }
  for (const [k, [lat, lon]] of Object.entries(SPOTS)) await fleet.publish(vid(k), reading(1, lat, lon))
  const all = conns[4] as LiveConn
  await pollUntil(async () => ids(all.positions.filter(p => p.vehicle_id.startsWith('flt-'))).length === 5, 10000, 'all five')
  for (const c of conns) await c.barrier()
  clients.forEach(([name, , want], i) => {
    t.same(ids((conns[i] as LiveConn).positions.filter(p => p.vehicle_id.startsWith('flt-'))), want.map(vid), name)
  })

  // an event goes to the clients subscribed to its vehicle (placed where it happened)
  await fleet.publish(vid('d'), { ts: new Date(Date.now() - 1000).toISOString(), type: 'harsh_brake', lat: -26.2, lon: 28.0 }, 'events')
  const ev = await (conns[0] as LiveConn).next(m => m.type === 'event', 'event')
  t.equal(ev.event?.vehicle_id, vid('d'))
  t.equal(ev.event?.type, 'harsh_brake')
  await (conns[2] as LiveConn).next(m => m.type === 'event', 'event in the city box')
  for (const c of conns) await c.barrier()
  t.notOk((conns[1] as LiveConn).messages.some(m => m.type === 'event'), 'not to the antimeridian box')
  t.notOk((conns[3] as LiveConn).messages.some(m => m.type === 'event'), 'not to the list and box')
})

t.test('snapshot: latest matching positions, seeded from QuestDB at start, fresh on reconnect', async t => {
  const vid = (k: string): string => `snap-${k}`
  const fleet = await connectFleet(t, stack, Object.keys(SPOTS).map(vid))
  for (const [k, [lat, lon]] of Object.entries(SPOTS)) {
    await fleet.publish(vid(k), [reading(1, lat, lon, Date.now() - 30000), reading(2, lat, lon, Date.now() - 20000)])
  }
  await fleet.publish(vid('d'), reading(0, 0, 0, Date.now() - 90000)) // older and elsewhere: must not win
  const c = await openLive(t, wsUrl(stack.httpUrl))
  const snap = await subscribe(c, { vehicles: '*', bbox: [27.5, -26.5, 28.5, -25.5] })
  const mine = snap.filter(p => p.vehicle_id.startsWith('snap-'))
  t.same(ids(mine), [vid('d'), vid('e')], 'snapshot holds what is in the box')
  t.same(mine.map(p => p.seq), [2, 2], 'the latest reading of each')

  // a new api process knows nothing of the stream so far: its table comes from LATEST ON
  await pollCount(stack.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id LIKE 'snap-%'", 11)
  const fresh = await startApi(t, stack)
  const c2 = await openLive(t, wsUrl(fresh.url))
  const seeded = (await subscribe(c2, { vehicles: [vid('a'), vid('b'), vid('nope')] }))
  t.same(ids(seeded), [vid('a'), vid('b')], 'seeded snapshot by list')
  t.same(seeded.map(p => p.seq), [2, 2])
  t.equal(seeded[0]?.lat, 10)

  // reconnect: a fresh snapshot with what happened while away
  c.ws.close()
  await c.closed
  await fleet.publish(vid('e'), reading(3, -26.1, 28.1, Date.now() - 10000))
  const c3 = await openLive(t, wsUrl(stack.httpUrl))
  await pollUntil(async () => (await subscribe(c3, { vehicles: [vid('e')] }))[0]?.seq === 3, 10000, 'fresh snapshot')
  t.pass('reconnected client sees seq 3 in its snapshot')
})

t.test('subscription change without reconnect, unsubscribe', async t => {
  const vid = (k: string): string => `chg-${k}`
  const fleet = await connectFleet(t, stack, Object.keys(SPOTS).map(vid))
  for (const [k, [lat, lon]] of Object.entries(SPOTS)) await fleet.publish(vid(k), reading(1, lat, lon))
  const watcher = await openLive(t, wsUrl(stack.httpUrl))
  await subscribe(watcher, { vehicles: Object.keys(SPOTS).map(vid) })
  const c = await openLive(t, wsUrl(stack.httpUrl))
  t.same(ids(await subscribe(c, { vehicles: [vid('a')] })), [vid('a')])
  t.same(ids(await subscribe(c, { vehicles: '*', bbox: [27.5, -26.5, 28.5, -25.5] })).filter(x => x.startsWith('chg-')), [vid('d'), vid('e')], 'new snapshot for the new box')
  const from = c.positions.length
  await fleet.publish(vid('a'), reading(2, 10, 179.5))
  await fleet.publish(vid('d'), reading(2, -26.2, 28.0))
  await pollUntil(async () => watcher.positions.filter(p => p.seq === 2).length === 2, 10000, 'watcher sees both')
  await c.barrier()
  t.same(ids(c.positions.slice(from).filter(p => p.vehicle_id.startsWith('chg-'))), [vid('d')], 'only what the new subscription matches')

  const uFrom = c.messages.length
  c.send({ type: 'unsubscribe' })
  await c.next(m => m.type === 'unsubscribed', 'unsubscribed', uFrom)
  const pFrom = c.positions.length
  await fleet.publish(vid('d'), reading(3, -26.2, 28.0))
  await pollUntil(async () => watcher.positions.some(p => p.seq === 3), 10000, 'watcher sees seq 3')
  await c.barrier()
  t.equal(c.positions.length, pFrom, 'nothing after unsubscribe')

  const eFrom = c.messages.length
  c.send({ type: 'subscribe', vehicles: '*', bbox: [0, 10, 1, 5] })
  t.match(await c.next(m => m.type === 'error', 'error', eFrom), { detail: /bbox/ }, 'a bad subscribe is answered with an error')
})

t.test('conflation under a burst: one position per vehicle per tick, latest wins', async t => {
  const vs = Array.from({ length: 10 }, (_, i) => `burst-${i}`)
  const fleet = await connectFleet(t, stack, vs)
  const metrics = createLiveMetrics()
  const api = await startApi(t, stack, { liveFeed: { metrics } })
  const slow = await openLive(t, wsUrl(api.url))
  await subscribe(slow, { vehicles: vs, max_hz: 2 })
  const every = await openLive(t, wsUrl(api.url))
  await subscribe(every, { vehicles: vs })
  const base = Date.now() - 120000
  const sends: Promise<void>[] = []
  for (let b = 0; b < 10; b++) {
    vs.forEach((id, v) => {
      sends.push(fleet.publish(id, Array.from({ length: 10 }, (_, i) => reading(b * 10 + i, -26 + v / 100, 28 + (b * 10 + i) / 1000, base + (b * 10 + i) * 100))))
    })
  }
  await Promise.all(sends)
  await pollUntil(async () => every.positions.length >= 1000, 15000, 'all 1,000 to the client without max_hz')
  await pollUntil(async () => vs.every(id => slow.positions.some(p => p.vehicle_id === id && p.seq === 99)), 10000, 'latest of each to the conflated client')
  const batches = slow.messages.filter(m => m.type === 'positions')
  t.ok(batches.every(m => new Set(m.positions?.map(p => p.vehicle_id)).size === m.positions?.length), 'at most one position per vehicle per batch')
  t.ok(slow.positions.length < 1000 / 2, `conflated: ${slow.positions.length} positions for 1,000 readings in ${batches.length} batches`)
  t.equal(every.positions.length, 1000, 'the client without max_hz gets every reading')
  t.ok(await metricValue(metrics.positionsConflated) > 0, 'positions_conflated counted')
  t.equal(await metricValue(metrics.clients), 2)
  t.equal(await metricValue(metrics.subscriptions), 2)
})

t.test('API keys: header, subprotocol, query; refused before upgrade', async t => {
  const metrics = createLiveMetrics()
  const api = await startApi(t, stack, { liveFeed: { metrics, verifyToken: async token => token === 'key-good' } })
  const url = wsUrl(api.url)
  const refused = async (u: string, o: Parameters<typeof openLive>[2] = {}): Promise<unknown> => await openLive(t, u, o).then(() => 0, (e: { statusCode?: number }) => e.statusCode)
  t.equal(await refused(url), 401, 'no key')
  t.equal(await refused(url, { headers: { authorization: 'Bearer key-bad' } }), 401, 'wrong key in header')
  t.equal(await refused(url + '?token=key-bad'), 401, 'wrong key in query')
  t.equal(await refused(url, { protocols: ['fleetgate.v1', 'bearer.key-bad'] }), 401, 'wrong key in subprotocol')
  t.equal(await refused(url, { headers: { authorization: 'Basic a2V5LWdvb2Q=' } }), 401, 'not a bearer')
  t.equal(await metricValue(metrics.authFailures), 5, 'counted')

  const h = await openLive(t, url, { headers: { authorization: 'Bearer key-good' } })
  t.ok((await subscribe(h, { vehicles: ['nobody'] })).length === 0, 'header key works')
  const p = await openLive(t, url, { protocols: ['fleetgate.v1', 'bearer.key-good'] })
  t.equal(p.ws.protocol, 'fleetgate.v1', 'the server selects fleetgate.v1, never echoes the key')
  await subscribe(p, { vehicles: ['nobody'] })
  const q = await openLive(t, url + '?token=key-good')
  await subscribe(q, { vehicles: ['nobody'] })
  t.pass('query key works')
})

t.test('two api processes fed through the broker serve the same stream', async t => {
  const apis = await Promise.all([startApi(t, stack, { viaBroker: true }), startApi(t, stack, { viaBroker: true })])
  const internal = Object.keys((stack.gw.gateway.broker.aedes as unknown as { clients: Record<string, unknown> }).clients).filter(id => id.startsWith('fleetgate-api-'))
  t.equal(new Set(internal).size, 2, 'two internal MQTT clients with distinct ids')
  const fleet = await connectFleet(t, stack, ['multi-1'])
  const conns = await Promise.all(apis.map(a => openLive(t, wsUrl(a.url))))
  for (const c of conns) await subscribe(c, { vehicles: '*', bbox: [27, -27, 29, -25] })
  await fleet.publish('multi-1', reading(7, -26.5, 28.5))
  for (const c of conns) {
    await pollUntil(async () => c.positions.some(p => p.vehicle_id === 'multi-1' && p.seq === 7), 10000, 'position through the broker')
  }
  t.pass('both api instances delivered the reading')
  const late = await openLive(t, wsUrl((apis[1] as { url: string }).url))
  t.same((await subscribe(late, { vehicles: ['multi-1'] })).map(p => p.seq), [7], 'and keep their latest table from the broker stream')
})

t.test('a long turn does not hold back the live stream: what is maxWakeMs old leaves in the middle of it', async t => {
  const vid = (k: string): string => `turn-${k}`
  const c = await openLive(t, wsUrl(stack.httpUrl))
  await subscribe(c, { vehicles: ['a', 'b', 'c'].map(vid) })
  // and the batches the gateway republishes for api processes apart from it
  const batches: LiveMessage[][] = []
  const internal = await mqtt.connectAsync(stack.mqttUrl, { clientId: INTERNAL_CLIENT_PREFIX + 'turn', username: INTERNAL_USERNAME, password: stack.gw.gateway.internalToken, protocolVersion: 4 })
  t.teardown(() => internal.endAsync(true))
  internal.on('message', (topic, payload) => { if (topic === LIVE_BATCH_TOPIC) batches.push(JSON.parse(payload.toString())) })
  await internal.subscribeAsync(LIVE_TOPIC_FILTER, { qos: 0 })
  const from = c.messages.length
  const publish = (k: string, seq: number): void => {
    const p = { vehicle_id: vid(k), ...reading(seq, 1, 1) } as unknown as Position
    stack.gw.gateway.live.publish({ kind: 'telemetry', vehicleId: vid(k), items: [p] })
  }
  // one turn: a, then 20 ms of work, then b and c
  publish('a', 1)
  busy(Math.max(DEFAULT_LIMITS.maxWakeMs, LIVE_BATCH_MAX_MS) + 20)
  publish('b', 2)
  publish('c', 3)
  await pollUntil(async () => c.positions.filter(p => p.vehicle_id.startsWith('turn-')).length === 3, 10000, 'three positions')
  const frames = c.messages.slice(from).filter(m => m.type === 'positions').map(m => ids(m.positions ?? []))
  t.same(frames, [[vid('a'), vid('b')], [vid('c')]], 'a and b when b found a old, c at the end of the turn')
  await pollUntil(async () => batches.some(b => b.some(m => m.vehicleId === vid('c'))), 10000, 'batch with c')
  const turn = batches.map(b => ids(b.filter(m => m.vehicleId.startsWith('turn-')).map(m => ({ vehicle_id: m.vehicleId })))).filter(b => b.length > 0)
  t.same(turn, [[vid('a'), vid('b')], [vid('c')]], 'the same split in the broker batches')
})

t.test('shutdown closes clients with 1001', async t => {
  const metrics = createLiveMetrics()
  const api = await startApi(t, stack, { liveFeed: { metrics } })
  const c = await openLive(t, wsUrl(api.url))
  await subscribe(c, { vehicles: '*' })
  await api.close()
  t.same(await c.closed, { code: 1001, reason: 'server shutting down' })
  t.equal(await metricValue(metrics.clientsClosed, { reason: 'shutdown' }), 1)
  t.equal(c.ws.readyState, WebSocket.CLOSED)
})
