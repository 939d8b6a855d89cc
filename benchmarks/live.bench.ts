// Live feed under load, loopback only, bounded: N vehicles publishing at 1 Hz
// (QoS 0, raw MQTT over TCP, each reading's ts = its send time) into the
// gateway, an api in its own process following the stream through the broker,
// and M WebSocket clients with different boxes (half without max_hz, half
// with max_hz 1). Prints one JSON object: latency from PUBLISH to WebSocket
// delivery per group, and the api process's CPU and memory.
//
//   npm run bench:live -- --vehicles 10000 --clients 200 --duration 20 --warmup 5
import { fork, type ChildProcess } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import WebSocket from 'ws'
import { loadConfig } from '../schemas/config.js'
import { vehicleTopic } from '../schemas/topics.js'
import type { Position } from '../schemas/live.js'
import { startQuestDb } from '../scripts/questdb.js'
import { buildGateway } from '../gateway/src/gateway.js'
import { issueToken } from '../gateway/src/broker/device-registry.js'
import { LatencyRecorder } from '../simulator/src/stats.js'

const { values: args } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '200' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' }
  }
})
const VEHICLES = Number(args.vehicles)
const CLIENTS = Number(args.clients)
const DURATION_S = Number(args.duration)
const WARMUP_S = Number(args.warmup)
// the fleet drives in a 10 x 10 degree square; each map shows 0.5 to 3 degrees of it
const REGION = { lon: 20, lat: -30, size: 10 }

function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}
const rand = rng(7)

// --- minimal MQTT 3.1.1 encoding: a vehicle only sends CONNECT and QoS 0 PUBLISH
function varint (n: number): Buffer {
  const out: number[] = []
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 128; out.push(b) } while (n > 0)
  return Buffer.from(out)
}
function str (s: string): Buffer { const b = Buffer.from(s); const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return Buffer.concat([l, b]) }
function connectPacket (id: string, token: string): Buffer {
  // [MQTT-3.1.2] protocol name, level 4, flags: username, password, clean session
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 120]), str(id), str(id), str(token)])
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body])
}
function publishPacket (topic: string, payload: string): Buffer {
  const body = Buffer.concat([str(topic), Buffer.from(payload)])
  return Buffer.concat([Buffer.from([0x30]), varint(body.length), body])
}

interface Vehicle { id: string, topic: string, sock: Socket, lat: number, lon: number, seq: number }

async function connectVehicle (port: number, id: string, token: string): Promise<Socket> {
  // a loaded machine (shared with other work) may reset a connect: retry a few times
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(port, id, token)
    } catch (err) {
      if (attempt >= 5) throw err
      await new Promise(resolve => setTimeout(resolve, 100 * attempt))
    }
  }
}

async function connectOnce (port: number, id: string, token: string): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1')
    sock.setNoDelay(true)
    sock.once('error', err => { sock.destroy(); reject(err) })
    sock.once('data', d => {
      // CONNACK: 0x20 0x02 flags code
      if (d[0] === 0x20 && d[3] === 0) { sock.on('data', () => {}); sock.on('error', () => {}); resolve(sock) } else reject(new Error(`connack ${d.toString('hex')}`))
    })
    sock.write(connectPacket(id, token))
  })
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetgate-bench-'))
  const log = pino({ level: 'warn' })
  const db = await startQuestDb({ root: join(dir, 'qdb') })
  const config = loadConfig({}, { MQTT_HOST: '127.0.0.1', MQTT_PORT: 0, MQTT_WS_PORT: -1, HTTP_HOST: '127.0.0.1', HTTP_PORT: 0, DATA_DIR: join(dir, 'data'), QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, LOG_LEVEL: 'warn' })
  const ids = Array.from({ length: VEHICLES }, (_, i) => `bench-${String(i).padStart(5, '0')}`)
  const tokens = ids.map(id => issueToken(config.DATA_DIR, id))
  const gw = await buildGateway(config, { log, questdbHttpUrl: db.httpUrl })
  const mqttPort = Number(new URL(gw.addresses.mqtt).port)

  let api: ChildProcess | undefined
  const vehicles: Vehicle[] = []
  const sockets: WebSocket[] = []
  try {
    api = fork(new URL('./live-api-process.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', DATA_DIR: config.DATA_DIR, GATEWAY_MQTT_URL: gw.addresses.mqtt, INTERNAL_TOKEN: gw.internalToken, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    const child = api
    const apiUrl = await new Promise<string>((resolve, reject) => {
      child.once('exit', code => reject(new Error(`api exited ${code}`)))
      child.on('message', (m: { type: string, url?: string }) => { if (m.type === 'ready') resolve(m.url as string) })
    })
    const stats = async (): Promise<{ cpu: NodeJS.CpuUsage, mem: NodeJS.MemoryUsage, clients: number, positionsSent: number, positionsConflated: number, closedSlow: number, maxBufferedBytes: number }> =>
      await new Promise(resolve => {
        const on = (m: { type: string }): void => { if (m.type === 'stats') { child.off('message', on); resolve(m as never) } }
        child.on('message', on)
        child.send({ type: 'stats' })
      })
    // wait for the api's MQTT subscription to be live
    for (let i = 0; i < 100 && (await fetch(apiUrl + '/readyz')).status !== 200; i++) await new Promise(resolve => setTimeout(resolve, 100))

    // vehicles: connect in waves so the broker's authentication keeps up
    const c0 = performance.now()
    for (let i = 0; i < VEHICLES; i += 100) {
      const wave = ids.slice(i, i + 100)
      const socks = await Promise.all(wave.map((id, j) => connectVehicle(mqttPort, id, tokens[i + j] as string)))
      socks.forEach((sock, j) => {
        const id = wave[j] as string
        vehicles.push({ id, topic: vehicleTopic(id, 'telemetry'), sock, lat: REGION.lat + rand() * REGION.size, lon: REGION.lon + rand() * REGION.size, seq: 0 })
      })
    }
    const connectMs = performance.now() - c0

    // clients: different boxes; even ones get every reading, odd ones max_hz 1
    const latency = { realtime: new LatencyRecorder(), max_hz_1: new LatencyRecorder() }
    let measuring = false
    let received = 0
    let messages = 0
    for (let i = 0; i < CLIENTS; i++) {
      const size = 0.5 + rand() * 2.5
      const minLon = REGION.lon + rand() * (REGION.size - size)
      const minLat = REGION.lat + rand() * (REGION.size - size)
      const ws = new WebSocket(apiUrl.replace(/^http/, 'ws') + '/api/v1/live')
      sockets.push(ws)
      const rec = i % 2 === 0 ? latency.realtime : latency.max_hz_1
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject)
        ws.once('open', () => {
          ws.send(JSON.stringify({ type: 'subscribe', vehicles: '*', bbox: [minLon, minLat, minLon + size, minLat + size], ...(i % 2 === 0 ? {} : { max_hz: 1 }) }))
        })
        ws.on('message', data => {
          const m = JSON.parse(data.toString()) as { type: string, positions?: Position[] }
          if (m.type === 'snapshot') { resolve(); return }
          if (m.type !== 'positions' || !measuring) return
          const now = Date.now()
          messages++
          for (const p of m.positions ?? []) { rec.record(now - Date.parse(p.ts)); received++ }
        })
      })
    }

    // publish: every vehicle once a second, spread over the second
    let sent = 0
    const periodMs = 1000
    const slots = 50
    let slot = 0
    const timer = setInterval(() => {
      const from = Math.floor(slot * VEHICLES / slots)
      const to = Math.floor((slot + 1) * VEHICLES / slots)
      slot = (slot + 1) % slots
      for (let i = from; i < to; i++) {
        const v = vehicles[i] as Vehicle
        v.lat = Math.min(REGION.lat + REGION.size, Math.max(REGION.lat, v.lat + (rand() - 0.5) * 0.002))
        v.lon = Math.min(REGION.lon + REGION.size, Math.max(REGION.lon, v.lon + (rand() - 0.5) * 0.002))
        v.sock.write(publishPacket(v.topic, JSON.stringify({ ts: new Date().toISOString(), seq: v.seq++, lat: v.lat, lon: v.lon, speed_kmh: 50, heading_deg: 90, ignition: true })))
        sent++
      }
    }, periodMs / slots)

    await new Promise(resolve => setTimeout(resolve, WARMUP_S * 1000))
    const s0 = await stats()
    const sent0 = sent
    const cpu0 = process.cpuUsage()
    measuring = true
    const t0 = performance.now()
    let peakRss = s0.mem.rss
    for (let s = 0; s < DURATION_S; s++) {
      await new Promise(resolve => setTimeout(resolve, 1000))
      peakRss = Math.max(peakRss, (await stats()).mem.rss)
    }
    measuring = false
    const elapsedS = (performance.now() - t0) / 1000
    const s1 = await stats()
    clearInterval(timer)
    const benchCpu = process.cpuUsage(cpu0)
    const cpuS = (s1.cpu.user + s1.cpu.system - s0.cpu.user - s0.cpu.system) / 1e6

    const report = {
      bench: 'live',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg: loadavg().map(x => Math.round(x * 100) / 100), node: process.version },
      config: { vehicles: VEHICLES, hz: 1, clients: CLIENTS, durationS: DURATION_S, warmupS: WARMUP_S, apiMode: 'separate process via broker' },
      publish: { readingsPerS: Math.round((sent - sent0) / elapsedS), connectMs: Math.round(connectMs) },
      delivery: {
        positionsPerS: Math.round(received / elapsedS),
        messagesPerS: Math.round(messages / elapsedS),
        realtimeMs: { ...latency.realtime.summary(), n: latency.realtime.count() },
        maxHz1Ms: { ...latency.max_hz_1.summary(), n: latency.max_hz_1.count() }
      },
      api: {
        cpuPct: Math.round(cpuS / elapsedS * 1000) / 10,
        rssMb: Math.round(s1.mem.rss / 1e5) / 10,
        peakRssMb: Math.round(peakRss / 1e5) / 10,
        heapUsedMb: Math.round(s1.mem.heapUsed / 1e5) / 10,
        liveClients: s1.clients,
        positionsSentPerS: Math.round((s1.positionsSent - s0.positionsSent) / elapsedS),
        positionsConflatedPerS: Math.round((s1.positionsConflated - s0.positionsConflated) / elapsedS),
        closedSlow: s1.closedSlow,
        maxClientBufferedBytes: s1.maxBufferedBytes
      },
      benchProcess: { cpuPct: Math.round((benchCpu.user + benchCpu.system) / 1e6 / elapsedS * 1000) / 10, note: 'gateway, publisher and WebSocket clients' }
    }
    process.stdout.write(JSON.stringify(report) + '\n')
  } finally {
    for (const ws of sockets) ws.terminate()
    for (const v of vehicles) v.sock.destroy()
    if (api && api.exitCode === null) {
      const child = api
      await new Promise<void>(resolve => {
        const kill = setTimeout(() => { child.kill('SIGKILL') }, 5000)
        child.once('exit', () => { clearTimeout(kill); resolve() })
        child.send({ type: 'close' })
      })
    }
    await gw.close()
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main().catch(err => {
  process.stderr.write(`live bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
