// Fuzzing the MQTT edge of a gateway process: many concurrent connections
// send mutated CONNECT + PUBLISH streams (bit flips, truncation, corrupted
// lengths, random bytes, splices) while a healthy vehicle publishes at QoS 1.
// Bounded: FUZZ_SECONDS (default 60) of fuzzing, then the checks.
import t from 'tap'
import mqtt from 'mqtt'
import { connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { freePort } from '../../lib/free-ports.js'
import { startQuestDbForTest, issueTokens, pollCount, duplicateReadings, tempDir } from '../../test/helper.js'
import { startGatewayProcess, waitConnectable, exited } from '../../test/gateway-process-helper.js'
import { connectPacket, publishPacket, subscribePacket, hex } from '../../test/mqtt-bytes-helper.js'
import { vehicleTopic } from '../../schemas/topics.js'
import { createRng } from '../../simulator/src/roads.js'

const FUZZ_MS = Number(process.env.FUZZ_SECONDS ?? 60) * 1000
const CONCURRENCY = 40
/** Aedes' connectTimeout in broker.ts, and a margin for a loaded machine. */
const CONNECT_TIMEOUT_MS = 10000
const GRACE_MS = 5000

function rssOf (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

t.test('fuzzed MQTT streams: no crash, nothing hangs, memory returns, a healthy vehicle loses nothing', async t => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9)
  t.comment(`FUZZ_SEED=${seed} FUZZ_SECONDS=${FUZZ_MS / 1000}`)
  const rand = createRng(seed)
  const int = (n: number): number => Math.floor(rand() * n)

  const db = await startQuestDbForTest(t)
  const dataDir = tempDir(t)
  const port = await freePort()
  const ids = Array.from({ length: 20 }, (_, i) => `fz-${i}`)
  const tokens = issueTokens(dataDir, [...ids, 'fz-healthy'])
  const url = `mqtt://127.0.0.1:${port}`
  const gw = startGatewayProcess({ DATA_DIR: dataDir, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(port), MQTT_WS_PORT: '-1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, GATEWAY_HTTP_PORT: '0' })
  let crashed = false
  gw.once('exit', () => { crashed = true })
  t.teardown(async () => { gw.kill('SIGTERM'); await exited(gw) })
  await waitConnectable(url, tokens.get('fz-0') as string, 'fz-0')
  const pid = gw.pid as number

  // the healthy vehicle: QoS 1 throughout, every PUBACK counted
  const healthy = await mqtt.connectAsync(url, { clientId: 'fz-healthy', username: 'fz-healthy', password: tokens.get('fz-healthy'), reconnectPeriod: 0 })
  t.teardown(() => healthy.endAsync(true))
  let acked = 0
  let stop = false
  const base = Date.now() - 3600e3
  const healthyLoop = (async () => {
    for (let i = 0; !stop; i++) {
      await healthy.publishAsync(vehicleTopic('fz-healthy', 'telemetry'), JSON.stringify({ ts: new Date(base + i * 10).toISOString(), lat: 1, lon: 2, speed_kmh: i % 100 }), { qos: 1 })
      acked++
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  })()

  /** A valid stream for a random fuzz vehicle, or a token-less one. */
  function stream (): Buffer {
    const id = ids[int(ids.length)] as string
    const parts = [int(4) === 0 ? connectPacket({ clientId: id }) : connectPacket({ clientId: id, username: id, password: tokens.get(id), will: int(3) === 0 ? { topic: `fleet/${id}/status`, payload: 'offline', qos: int(2), retain: int(2) === 1 } : undefined })]
    const n = 1 + int(5)
    for (let i = 0; i < n; i++) {
      const k = int(4)
      if (k === 0) parts.push(subscribePacket([`fleet/${id}/#`], 1 + int(100)))
      else if (k === 1) parts.push(hex('c000'))
      else parts.push(publishPacket(vehicleTopic(id, int(2) === 0 ? 'telemetry' : 'events'), JSON.stringify({ ts: new Date().toISOString(), lat: 1, lon: 1 }), { qos: int(2), id: 1 + int(1000) }))
    }
    return Buffer.concat(parts)
  }

  function mutate (b: Buffer): Buffer {
    const out = Buffer.from(b)
    switch (int(6)) {
      case 0: for (let i = 1 + int(5); i > 0; i--) { const p = int(out.length); out[p] = (out[p] as number) ^ (1 << int(8)) } return out
      case 1: return out.subarray(0, int(out.length))
      case 2: { const p = int(Math.min(out.length, 40)); out[p] = int(256); if (p + 1 < out.length) out[p + 1] = 0xff; return out }
      case 3: return Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256)))
      case 4: { const p = int(out.length); return Buffer.concat([out.subarray(0, p), Buffer.from(Array.from({ length: 1 + int(20) }, () => int(256))), out.subarray(p)]) }
      default: return Buffer.concat([out, out.subarray(int(out.length))])
    }
  }

  let connections = 0
  let accepted = 0
  const hanging: Array<Promise<boolean>> = []
  const stuck: string[] = []
  async function one (): Promise<void> {
    const bytes = mutate(stream())
    const sock = connect(port, '127.0.0.1')
    sock.on('error', () => {})
    connections++
    let closed = false
    let reply = Buffer.alloc(0)
    sock.on('data', d => { reply = Buffer.concat([reply, d]).subarray(0, 64) })
    const closedP = new Promise<void>(resolve => sock.once('close', () => { closed = true; resolve() }))
    await new Promise<void>(resolve => { sock.once('connect', resolve); sock.once('close', resolve) })
    for (let p = 0; p < bytes.length && !closed;) {
      const n = 1 + int(bytes.length)
      sock.write(bytes.subarray(p, p + n))
      p += n
      if (int(3) === 0) await new Promise(resolve => setTimeout(resolve, int(20)))
    }
    await Promise.race([closedP, new Promise(resolve => setTimeout(resolve, 50 + int(200)))])
    if (closed) return
    if (reply.subarray(0, 4).equals(hex('20020000'))) {
      // an accepted session lives by its keepalive: end it here
      accepted++
      sock.destroy()
      return
    }
    // anything else must be closed by the gateway within its connect timeout,
    // unless its session was accepted meanwhile (a CONNACK 0 late under load)
    hanging.push(Promise.race([closedP.then(() => false), new Promise<boolean>(resolve => setTimeout(() => resolve(true), CONNECT_TIMEOUT_MS + GRACE_MS))]).then(open => {
      if (!open) return false
      if (reply.subarray(0, 4).equals(hex('20020000'))) { accepted++; return false }
      if (stuck.length < 5) stuck.push(`sent ${bytes.subarray(0, 48).toString('hex')} got ${reply.toString('hex')}`)
      return true
    }).finally(() => sock.destroy()))
  }

  // warm-up, then the RSS to come back to
  const until = async (ms: number): Promise<void> => {
    const end = Date.now() + ms
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (Date.now() < end && !crashed) await one() }))
  }
  await until(Math.min(5000, FUZZ_MS / 4))
  await Promise.all(hanging)
  const rss0 = rssOf(pid)
  await until(FUZZ_MS)
  const leftOpen = (await Promise.all(hanging)).filter(Boolean).length
  stop = true
  await healthyLoop
  // V8 gives memory back some seconds after allocation slows down
  let rss1 = rssOf(pid)
  for (let i = 0; i < 30 && rss1 > rss0 * 1.2; i++) {
    await new Promise(resolve => setTimeout(resolve, 1000))
    rss1 = rssOf(pid)
  }

  t.comment(`${connections} connections, ${accepted} accepted sessions, RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB, ${acked} healthy readings acknowledged`)
  t.notOk(crashed, 'the gateway did not crash')
  for (const line of stuck) t.comment(line)
  t.equal(leftOpen, 0, 'no connection without an accepted session was left open past the connect timeout')
  t.ok(rss1 <= rss0 * 1.2, `RSS back within 20 % of where it started (${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB)`)
  t.ok(healthy.connected, 'the healthy vehicle stayed connected')
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM readings WHERE vehicle_id = 'fz-healthy'", acked), acked, 'every acknowledged healthy reading is stored')
  t.equal(await duplicateReadings(db.pgUrl), 0, 'no duplicates')
})
