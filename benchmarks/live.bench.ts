// Live feed under load, loopback only, bounded: N vehicles publishing at 1 Hz
// (QoS 0, raw MQTT, each reading's ts = its send time; own process) into the
// gateway (this process), an api in its own process following the stream
// through the broker, and M WebSocket maps (this process) with different
// boxes, half without max_hz and half with max_hz 1. Prints one JSON line:
// latency from PUBLISH to WebSocket delivery per group, and the api
// process's CPU and memory.
//
// --source direct: no gateway and no MQTT; the api process puts the synthetic
// fleet on its in-process live bus, which measures the live feed alone.
//
//   npm run bench:live -- --vehicles 10000 --clients 200 --duration 20 --warmup 5 [--source direct]
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import WebSocket from 'ws'
import { loadConfig } from '../schemas/config.js'
import type { Position } from '../schemas/live.js'
import { startQuestDb } from '../lib/questdb/managed.js'
import { buildGateway } from '../gateway/src/index.js'
import { issueToken } from '../gateway/src/index.js'
import { LatencyRecorder } from '../simulator/src/stats.js'
import type { StartMessage } from './children/live-publisher.js'
import type { DirectStart } from './children/live-api.js'
import { NODE_FLAGS } from '../bin/node-flags.js'

const { values: args } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '200' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    source: { type: 'string', default: 'broker' }
  }
})
const VEHICLES = Number(args.vehicles)
const CLIENTS = Number(args.clients)
const DURATION_S = Number(args.duration)
const WARMUP_S = Number(args.warmup)
const DIRECT = args.source === 'direct'
// the fleet drives in a 10 x 10 degree square; each map shows 0.5 to 3 degrees of it
const REGION = { lon: 20, lat: -30, size: 10 }

function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}
const rand = rng(7)

interface Child { proc: ChildProcess, ask: <R>(type: string, reply: string) => Promise<R> }

function forkChild (file: string, env: NodeJS.ProcessEnv): Child {
  const proc = fork(new URL(file, import.meta.url).pathname, [], { execArgv: [...NODE_FLAGS, '--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return {
    proc,
    ask: async <R>(type: string, reply: string) => await new Promise<R>((resolve, reject) => {
      const on = (m: { type: string, error?: string }): void => {
        if (m.type === 'failed') { proc.off('message', on); reject(new Error(m.error)) }
        if (m.type === reply) { proc.off('message', on); resolve(m as R) }
      }
      proc.on('message', on)
      if (type) proc.send({ type })
    })
  }
}

async function stopChild (c: Child | undefined, msg: string): Promise<void> {
  if (!c || c.proc.exitCode !== null) return
  await new Promise<void>(resolve => {
    const kill = setTimeout(() => { c.proc.kill('SIGKILL') }, 5000)
    c.proc.once('exit', () => { clearTimeout(kill); resolve() })
    c.proc.send({ type: msg })
  })
}

interface ApiStats { cpu: NodeJS.CpuUsage, mem: NodeJS.MemoryUsage, clients: number, positionsSent: number, positionsConflated: number, closedSlow: number, maxBufferedBytes: number }

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetgate-bench-'))
  const log = pino({ level: 'warn' })
  const db = await startQuestDb({ root: join(dir, 'qdb') })
  let api: Child | undefined
  let fleet: Child | undefined
  let gw: Awaited<ReturnType<typeof buildGateway>> | undefined
  const sockets: WebSocket[] = []
  try {
    const config = loadConfig({}, { MQTT_HOST: '127.0.0.1', MQTT_PORT: 0, MQTT_WS_PORT: -1, HTTP_HOST: '127.0.0.1', HTTP_PORT: 0, DATA_DIR: join(dir, 'data'), QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, LOG_LEVEL: 'warn' })
    const ids = Array.from({ length: VEHICLES }, (_, i) => `bench-${String(i).padStart(5, '0')}`)
    const vehicles = ids.map((id): [string, string] => [id, issueToken(config.DATA_DIR, id)])
    gw = await buildGateway(config, { log, questdbHttpUrl: db.httpUrl })

    api = forkChild('./children/live-api.ts', { ...process.env, QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', DATA_DIR: config.DATA_DIR, GATEWAY_MQTT_URL: gw.addresses.mqtt, INTERNAL_TOKEN: gw.internalToken, LOG_LEVEL: 'warn', API_AUTH: 'off', BENCH_SOURCE: DIRECT ? 'direct' : 'broker' })
    const apiUrl = (await api.ask<{ url: string }>('', 'ready')).url
    const apiChild = api
    const stats = async (): Promise<ApiStats> => await apiChild.ask<ApiStats>('stats', 'stats')
    // the api's MQTT subscription must be live before anything is published
    for (let i = 0; i < 100 && (await fetch(apiUrl + '/readyz')).status !== 200; i++) await new Promise(resolve => setTimeout(resolve, 100))

    // maps: different boxes; even ones get every reading, odd ones max_hz 1
    const latency = { realtime: new LatencyRecorder(), maxHz1: new LatencyRecorder() }
    let measuring = false
    let received = 0
    let messages = 0
    for (let i = 0; i < CLIENTS; i++) {
      const size = 0.5 + rand() * 2.5
      const minLon = REGION.lon + rand() * (REGION.size - size)
      const minLat = REGION.lat + rand() * (REGION.size - size)
      const ws = new WebSocket(apiUrl.replace(/^http/, 'ws') + '/api/v1/live')
      sockets.push(ws)
      const rec = i % 2 === 0 ? latency.realtime : latency.maxHz1
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject)
        ws.once('open', () => {
          ws.on('error', () => {})
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

    let connectMs = 0
    let sentSoFar = async (): Promise<number> => NaN
    if (DIRECT) {
      const start: DirectStart = { type: 'start-direct', vehicles: VEHICLES, hz: 1, region: REGION }
      api.proc.send(start)
      await api.ask('', 'connected')
    } else {
      fleet = forkChild('./children/live-publisher.ts', { ...process.env })
      const start: StartMessage = { type: 'start', port: Number(new URL(gw.addresses.mqtt).port), vehicles, region: REGION, hz: 1 }
      fleet.proc.send(start)
      connectMs = (await fleet.ask<{ connectMs: number }>('', 'connected')).connectMs
      const fleetChild = fleet
      sentSoFar = async () => (await fleetChild.ask<{ sent: number }>('stats', 'stats')).sent
    }

    await new Promise(resolve => setTimeout(resolve, WARMUP_S * 1000))
    const s0 = await stats()
    const sent0 = await sentSoFar()
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
    peakRss = Math.max(peakRss, s1.mem.rss)
    const sent1 = await sentSoFar()
    const benchCpu = process.cpuUsage(cpu0)
    const cpuS = (s1.cpu.user + s1.cpu.system - s0.cpu.user - s0.cpu.system) / 1e6
    const r1 = (x: number): number => Math.round(x * 10) / 10

    process.stdout.write(JSON.stringify({
      bench: 'live',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg: loadavg().map(x => Math.round(x * 100) / 100), node: process.version },
      config: { vehicles: VEHICLES, hz: 1, clients: CLIENTS, durationS: DURATION_S, warmupS: WARMUP_S, source: DIRECT ? 'direct: synthetic fleet on the api process\'s in-process bus' : 'broker: MQTT fleet -> gateway -> $fleet/live -> api process' },
      publish: DIRECT ? { readingsPerS: VEHICLES } : { readingsPerS: Math.round((sent1 - sent0) / elapsedS), connectMs: Math.round(connectMs) },
      delivery: {
        positionsPerS: Math.round(received / elapsedS),
        messagesPerS: Math.round(messages / elapsedS),
        realtimeMs: { ...latency.realtime.summary(), n: latency.realtime.count() },
        maxHz1Ms: { ...latency.maxHz1.summary(), n: latency.maxHz1.count() }
      },
      api: {
        cpuPct: r1(cpuS / elapsedS * 100),
        rssMb: r1(s1.mem.rss / 1e6),
        peakRssMb: r1(peakRss / 1e6),
        heapUsedMb: r1(s1.mem.heapUsed / 1e6),
        liveClients: s1.clients,
        positionsSentPerS: Math.round((s1.positionsSent - s0.positionsSent) / elapsedS),
        positionsConflatedPerS: Math.round((s1.positionsConflated - s0.positionsConflated) / elapsedS),
        closedSlow: s1.closedSlow,
        maxClientBufferedBytes: s1.maxBufferedBytes
      },
      benchProcess: { cpuPct: r1((benchCpu.user + benchCpu.system) / 1e6 / elapsedS * 100), holds: DIRECT ? 'WebSocket maps (gateway idle)' : 'gateway and WebSocket maps' }
    }) + '\n')
  } finally {
    for (const ws of sockets) ws.terminate()
    await stopChild(fleet, 'stop')
    await stopChild(api, 'close')
    await gw?.close()
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main().catch(err => {
  process.stderr.write(`live bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
