// The broker's edge against a hostile device: no status spoofing, a bounded
// retained store, packets refused on their header, no poison loop, one
// session per vehicle, and a connected-clients gauge that matches the sockets.
import t from 'tap'
import mqtt from 'mqtt'
import { connect, type Socket } from 'node:net'
import { startQuestDbForTest, startStack, issueTokens, connectVehicles, pollCount, query, count, waitWalApplied, pollUntil, type Stack } from '../../../test/helper.js'
import { connectPacket, hex, stackWithVehicle } from '../../../test/mqtt-bytes-helper.js'
import { vehicleTopic } from '../../../schemas/topics.js'
import { createApiKey } from '../../../api/src/api-keys.js'

function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_resolve, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms))])
}

async function gauge (stack: Stack, name: string): Promise<number> {
  const text = await stack.gw.gateway.metrics.registry.getSingleMetricAsString(name)
  const m = /\n[a-z_]+(?:\{[^}]*\})? (\d+)/.exec(text)
  return m ? Number(m[1]) : NaN
}

t.test('another vehicle\'s status topic, Wills and the retained store', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const tokens = issueTokens(stack.config.DATA_DIR, ['tv1', 'p'])
  const [tv1, p] = await connectVehicles(t, stack.mqttUrl, tokens)
  if (!tv1 || !p) throw new Error('clients')
  const seen: string[] = []
  tv1.on('message', (topic, payload) => { seen.push(`${topic} ${payload.toString().slice(0, 40)}`) })
  await tv1.subscribeAsync('fleet/tv1/#', { qos: 1 })

  await p.publishAsync('fleet/tv1/status', '{"spoofed_by":"p"}', { qos: 1 })
  await p.publishAsync('fleet/tv1/status', '{"spoofed_by":"p"}', { qos: 1, retain: true })
  await p.publishAsync('fleet/tv1/status', 'offline', { qos: 1, retain: true })
  t.ok(p.connected, 'foreign publishes are acknowledged and the vehicle stays connected')

  // a Will on another vehicle's status topic is refused at CONNECT
  const willCode = await mqtt.connectAsync(stack.mqttUrl, { clientId: 'p', username: 'p', password: tokens.get('p'), reconnectPeriod: 0, will: { topic: 'fleet/tv1/status', payload: Buffer.from('offline'), qos: 1, retain: true } })
    .then(async c => { await c.endAsync(true); return 0 }, (err: { code?: number }) => err.code)
  t.equal(willCode, 5, 'a Will on a foreign topic: CONNACK 5')
  const badWord = await mqtt.connectAsync(stack.mqttUrl, { clientId: 'p', username: 'p', password: tokens.get('p'), reconnectPeriod: 0, will: { topic: 'fleet/p/status', payload: Buffer.from('{"spoofed_by":"p"}'), qos: 1, retain: false } })
    .then(async c => { await c.endAsync(true); return 0 }, (err: { code?: number }) => err.code)
  t.equal(badWord, 5, 'a Will that is no status word: CONNACK 5')

  // a vehicle's own status: one small retained message; a large one is not kept
  const [p2] = await connectVehicles(t, stack.mqttUrl, new Map([['p', tokens.get('p') as string]]))
  await p2?.publishAsync('fleet/p/status', 'online', { qos: 1, retain: true })
  await p2?.publishAsync('fleet/p/status', Buffer.alloc(200 * 1024, 0x61), { qos: 1, retain: true })

  await new Promise(resolve => setTimeout(resolve, 300))
  t.same(seen, [], 'tv1 received nothing of p\'s publishes')
  const retained = async (filter: string): Promise<string[]> => {
    const c = await mqtt.connectAsync(stack.mqttUrl, { clientId: 'p', username: 'p', password: tokens.get('p'), reconnectPeriod: 0 })
    const got: string[] = []
    c.on('message', (topic, payload, packet) => { if (packet.retain) got.push(`${topic} ${payload.length}`) })
    await c.subscribeAsync(filter, { qos: 1 })
    await new Promise(resolve => setTimeout(resolve, 300))
    await c.endAsync(true)
    return got
  }
  t.same(await retained('fleet/p/#'), ['fleet/p/status 6'], 'one small retained message, the vehicle\'s own valid status')
  const persistence = (stack.gw.gateway.broker.aedes as unknown as { persistence: { createRetainedStream: (pattern: string) => AsyncIterable<{ topic: string }> } }).persistence
  const kept: string[] = []
  for await (const packet of persistence.createRetainedStream('#')) if (!packet.topic.startsWith('$SYS/')) kept.push(packet.topic)
  t.same(kept, ['fleet/p/status'], 'the retained store holds nothing else')
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'p' AND reason = 'id_mismatch'", 3), 3, 'the foreign publishes are quarantined')
})

t.test('deeply nested JSON is acknowledged and quarantined, the valid items stored', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const [v] = await connectVehicles(t, stack.mqttUrl, issueTokens(stack.config.DATA_DIR, ['deep-1']))
  if (!v) throw new Error('client')
  const ts = new Date(Date.now() - 60000).toISOString()
  const deepArray = '['.repeat(10000) + ']'.repeat(10000)
  await within(v.publishAsync(vehicleTopic('deep-1', 'telemetry'), `[${JSON.stringify({ ts, lat: 1, lon: 2 })},${deepArray}]`, { qos: 1 }), 10000, 'nested batch item')
  const deepData = '{"a":'.repeat(10000) + '1' + '}'.repeat(10000)
  await within(v.publishAsync(vehicleTopic('deep-1', 'events'), `{"ts":"${ts}","type":"dtc","data":${deepData}}`, { qos: 1 }), 10000, 'nested event data')
  await within(v.publishAsync(vehicleTopic('deep-1', 'events'), `[{"ts":"${ts}","type":"panic"},{"ts":"${ts}","type":"dtc","data":${deepData}}]`, { qos: 1 }), 10000, 'nested event data in a batch')
  t.ok(v.connected, 'acknowledged, still connected')
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'deep-1' AND reason = 'schema'", 3), 3, 'three schema rejections')
  const rows = await query<{ detail: string, payload: string }>(stack.pgUrl, "SELECT detail, payload FROM rejections WHERE vehicle_id = 'deep-1'")
  t.ok(rows.every(r => r.detail.length < 200 && r.payload.length <= 4096), 'with bounded details and payloads')
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'deep-1'", 1), 1, 'the valid reading of the batch is stored')
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM events WHERE vehicle_id = 'deep-1'", 1), 1, 'the valid event of the batch is stored')
})

t.test('packets are refused on their fixed header, before and after login', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const tokens = issueTokens(stack.config.DATA_DIR, Array.from({ length: 10 }, (_, i) => `big-${i}`))
  const port = Number(new URL(stack.mqttUrl).port)
  const mib = Buffer.alloc(1 << 20, 0x61)

  /** Announces 268,435,455 bytes, then sends up to 20 MiB; resolves with the MiB written before the server closed. */
  async function flood (afterLogin: string | null): Promise<number> {
    const sock: Socket = connect(port, '127.0.0.1')
    sock.on('error', () => {})
    let closed = false
    const done = new Promise<void>(resolve => sock.once('close', () => { closed = true; resolve() }))
    await new Promise(resolve => sock.once('connect', resolve))
    if (afterLogin !== null) {
      sock.write(connectPacket({ clientId: afterLogin, username: afterLogin, password: tokens.get(afterLogin) }))
      await new Promise(resolve => sock.once('data', resolve))
      sock.write(hex('32ffffff7f0012'))
    } else {
      sock.write(hex('10ffffff7f 00044d515454 04c2003c'))
    }
    let sent = 0
    for (; sent < 20 && !closed; sent++) {
      if (!sock.write(mib)) await Promise.race([new Promise(resolve => sock.once('drain', resolve)), done])
    }
    await within(done, 10000, 'close')
    return sent
  }

  const rss0 = process.memoryUsage().rss
  const sent = await Promise.all(Array.from({ length: 100 }, () => flood(null)))
  const rss1 = process.memoryUsage().rss
  t.ok(sent.every(n => n < 20), '100 unauthenticated floods: every connection closed before 20 MiB')
  t.ok(rss1 - rss0 < 200 * 2 ** 20, `RSS grew ${((rss1 - rss0) / 2 ** 20).toFixed(0)} MiB with 100 sockets announcing 256 MiB each`)
  const after = await Promise.all(Array.from({ length: 10 }, (_, i) => flood(`big-${i}`)))
  t.ok(after.every(n => n < 20), 'an authenticated PUBLISH beyond MAX_PAYLOAD_BYTES: closed on its header')
  t.match(await stack.gw.gateway.metrics.registry.getSingleMetricAsString('fleetgate_mqtt_refused_total'), /reason="packet_too_large"} 110$/m, 'counted')
  // a vehicle is unaffected
  const [v] = await connectVehicles(t, stack.mqttUrl, issueTokens(stack.config.DATA_DIR, ['ok-1']))
  await v?.publishAsync(vehicleTopic('ok-1', 'telemetry'), JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 1 }), { qos: 1 })
  t.equal(await pollCount(stack.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'ok-1'", 1), 1, 'a healthy vehicle is stored')
})

t.test('a takeover storm leaves one session, the gauge equal to the open sockets, and no offline', async t => {
  const id = 'st-1'
  const { stack, token, port } = await stackWithVehicle(t, id)
  const [first] = await connectVehicles(t, stack.mqttUrl, new Map([[id, token]]))
  // the session is busy: a publish waits for durability while the storm comes
  void first?.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 1 }), { qos: 1 }).catch(() => {})
  const login = connectPacket({ clientId: id, username: id, password: token })
  const socks = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    let open = true
    let got = ''
    s.on('data', d => { got += d.toString('hex') })
    s.once('close', () => { open = false })
    await new Promise(resolve => s.once('connect', resolve))
    // every third one follows its CONNECT with a malformed packet
    s.write(i % 3 === 2 ? Buffer.concat([login, hex('0000')]) : login)
    return { s, isOpen: () => open, got: () => got }
  }))
  t.teardown(() => { for (const x of socks) x.s.destroy() })
  const openNow = (): number => socks.filter(x => x.isOpen()).length + (first?.connected === true ? 1 : 0)
  await pollUntil(async () => openNow() === 1 && await gauge(stack, 'fleetgate_mqtt_connected_clients') === 1, 15000, 'one session left').catch(() => {})
  t.comment(socks.map(x => `${x.isOpen()}:${x.got()}`).join(' '))
  t.equal(openNow(), 1, 'one connection of the vehicle is left open')
  t.equal(await gauge(stack, 'fleetgate_mqtt_connected_clients'), 1, 'and the gauge says 1')
  for (const x of socks) x.s.destroy()
  first?.end(true)
  await pollUntil(async () => await gauge(stack, 'fleetgate_mqtt_connected_clients') === 0, 15000, 'no session left').catch(() => {})
  t.equal(await gauge(stack, 'fleetgate_mqtt_connected_clients'), 0, 'all closed: the gauge says 0')
  await pollCount(stack.pgUrl, `SELECT count() n FROM vehicle_status WHERE vehicle_id = '${id}'`, 2)
  const status = await query<{ online: boolean }>(stack.pgUrl, `SELECT online FROM vehicle_status WHERE vehicle_id = '${id}' ORDER BY ts`)
  t.same(status.map(r => r.online), [true, false], 'online at the first session, offline after the last: no offline in the takeovers')
})

t.test('the gateway records each vehicle online at session start and offline at its end', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, { API_AUTH: 'required' })
  const { key } = createApiKey(stack.config.DATA_DIR, 'read')
  const tokens = issueTokens(stack.config.DATA_DIR, ['ss-clean', 'ss-drop'])
  const [clean, drop] = await connectVehicles(t, stack.mqttUrl, tokens)
  await pollCount(stack.pgUrl, 'SELECT count() n FROM vehicle_status WHERE online', 2)
  await clean?.endAsync()
  // a dropped connection: the socket ends without DISCONNECT
  ;(drop as unknown as { stream: Socket }).stream.destroy()
  t.equal(await pollCount(stack.pgUrl, 'SELECT count() n FROM vehicle_status WHERE NOT online', 2), 2, 'offline recorded after a clean end and after a drop')
  await waitWalApplied(stack.pgUrl)
  t.equal(await count(stack.pgUrl, 'SELECT count() n FROM vehicle_status'), 4, 'one online and one offline each')
  const res = await fetch(`${stack.httpUrl}/api/v1/vehicles/ss-clean`, { headers: { authorization: `Bearer ${key}` } })
  const body = await res.json() as { online: boolean, status: string }
  t.equal(body.online, false, 'the api says offline')
  t.equal(body.status, 'offline')
})
