// What the benchmarks start and watch: a managed QuestDB, the gateway (with
// the api) as a child process, Mosquitto from Debian packages; and the CPU and
// RSS of a pid read from /proc. Loopback only; every child is stopped by its
// own pid in the same run.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { freePort } from '../../lib/free-ports.js'
import { startQuestDb, type ManagedQuestDb } from '../../lib/questdb/managed.js'
import { NODE_FLAGS } from '../../bin/node-flags.js'

export interface Cleanup { add: (fn: () => Promise<void> | void) => void, run: () => Promise<void> }

export function createCleanup (): Cleanup {
  const fns: Array<() => Promise<void> | void> = []
  return {
    add: fn => { fns.push(fn) },
    async run () {
      for (const fn of fns.splice(0).reverse()) await Promise.resolve(fn()).catch(() => {})
    }
  }
}

export function tempDir (cleanup: Cleanup, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function startBenchQuestDb (cleanup: Cleanup): Promise<ManagedQuestDb> {
  const db = await startQuestDb({ root: join(tempDir(cleanup, 'fleetgate-bench-qdb-'), 'root') })
  cleanup.add(() => db.stop())
  return db
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function procStats (pid: number): { cpuS: number, rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { cpuS: ticks / 100, rssMb: Math.round(rssKb / 1024) }
}

/** A process and its descendants (from /proc/<pid>/task/<tid>/children), the process first; gone ones left out. */
export function processTree (pid: number): number[] {
  const out: number[] = []
  const walk = (p: number): void => {
    let tids: string[]
    try { tids = readdirSync(`/proc/${p}/task`) } catch { return }
    out.push(p)
    for (const tid of tids) {
      let children = ''
      try { children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8') } catch {}
      for (const c of children.split(' ')) if (c.trim() !== '') walk(Number(c))
    }
  }
  walk(pid)
  return out
}

/** CPU seconds (user + system) of processes and all their descendants alive now. */
export function treeCpuS (pids: number[]): number {
  let s = 0
  for (const pid of pids) {
    for (const p of processTree(pid)) {
      try { s += procStats(p).cpuS } catch {}
    }
  }
  return s
}

/** Samples a process while fn runs: CPU % (of one core) over the window, peak and last RSS. */
export async function watchProcess<T> (pid: number, fn: () => Promise<T>): Promise<{ result: T, cpuPct: number, rssPeakMb: number, rssEndMb: number }> {
  const a = procStats(pid)
  const t0 = performance.now()
  let peak = a.rssMb
  const timer = setInterval(() => { try { peak = Math.max(peak, procStats(pid).rssMb) } catch {} }, 500)
  try {
    const result = await fn()
    const b = procStats(pid)
    const s = (performance.now() - t0) / 1000
    return { result, cpuPct: Math.round((b.cpuS - a.cpuS) / s * 1000) / 10, rssPeakMb: Math.max(peak, b.rssMb), rssEndMb: b.rssMb }
  } finally {
    clearInterval(timer)
  }
}

export interface GatewayChild { pid: number, mqttUrl: string, httpUrl: string, dataDir: string, pgUrl: string, stop: () => Promise<void> }

/**
 * A `fleetgate <cmd>` child from the repository's root, stopped at cleanup
 * (SIGTERM, then SIGKILL after 15 s); resolves with the addresses of its
 * `upMessage` log line.
 */
async function spawnFleetgate (cleanup: Cleanup, args: string[], env: NodeJS.ProcessEnv, upMessage: string, timeoutMs: number): Promise<{ child: ChildProcess, http: string, mqtt: string | null, stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...args], { cwd: new URL('../..', import.meta.url).pathname, env, stdio: ['ignore', 'pipe', 'inherit'] })
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await new Promise(resolve => { const t = setTimeout(() => { child.kill('SIGKILL'); resolve(null) }, 15000); child.once('exit', () => { clearTimeout(t); resolve(null) }) })
  }
  cleanup.add(stop)
  const up = await new Promise<{ http: string, mqtt: string | null }>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    const t = setTimeout(() => reject(new Error(`${upMessage}: not within ${timeoutMs / 1000} s`)), timeoutMs)
    rl.on('line', line => {
      try {
        const msg = JSON.parse(line) as { msg?: string, http?: string | string[], mqtt?: string, level?: number }
        // one process logs every address its api bound (a list), the workers' primary one URL
        const http = Array.isArray(msg.http) ? msg.http[0] : msg.http
        if (msg.msg === upMessage && http) { clearTimeout(t); resolve({ http, mqtt: msg.mqtt ?? null }) }
        if ((msg.level ?? 0) >= 50) process.stderr.write(line + '\n')
      } catch {}
    })
    child.once('exit', code => { clearTimeout(t); reject(new Error(`${args.join(' ')} exited with ${code}`)) })
  })
  return { child, ...up, stop }
}

/**
 * `fleetgate start` (gateway + api) on free loopback ports against the given
 * QuestDB; `at` restarts one on the DATA_DIR and ports of an earlier one.
 */
export async function startGatewayChild (cleanup: Cleanup, db: { httpUrl: string, pgUrl: string }, env: Record<string, string> = {}, nodeArgs: string[] = [], at?: { dataDir: string, mqttPort: number, httpPort: number }): Promise<GatewayChild> {
  const dataDir = at?.dataDir ?? tempDir(cleanup, 'fleetgate-bench-gw-')
  const up = await spawnFleetgate(cleanup, [...nodeArgs, '--import', 'tsx', 'bin/cli.ts', 'start'], {
    ...process.env,
    MQTT_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    MQTT_PORT: String(at?.mqttPort ?? 0),
    MQTT_WS_PORT: '-1',
    HTTP_PORT: String(at?.httpPort ?? 0),
    DATA_DIR: dataDir,
    QUESTDB_HTTP_URL: db.httpUrl,
    QUESTDB_PG_URL: db.pgUrl,
    LOG_LEVEL: 'info',
    // the benchmarks' own WebSocket and HTTP probes measure latency, not auth
    API_AUTH: 'off',
    ...env
  }, 'fleetgate up', 60000)
  if (up.mqtt === null) throw new Error('fleetgate start logged no MQTT address')
  return { pid: up.child.pid as number, mqttUrl: up.mqtt, httpUrl: up.http, dataDir, pgUrl: db.pgUrl, stop: up.stop }
}

/** A probe's latency percentiles (ms) and the number of readings it received while measuring. */
export interface ProbeSummary { p50: number, p99: number, count: number }

export interface LatencyProbe {
  pid: number
  /** From now on the probe records its latency. */
  start: () => void
  /** Ends the probe process; its percentiles (the same promise however often it is called). */
  stop: () => Promise<ProbeSummary>
}

/** A probe process (see children/probe.ts); resolves once it says it is ready. */
async function startProbe (script: string, env: Record<string, string>): Promise<LatencyProbe> {
  const probe = fork(new URL(script, import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const probeExit = new Promise(resolve => probe.once('exit', resolve))
  const summaryP = new Promise<ProbeSummary>((resolve, reject) => {
    probe.once('exit', code => reject(new Error(`${script} exited with ${code}`)))
    probe.on('message', (m: ProbeSummary & { type: string }) => { if (m.type === 'summary') resolve(m) })
  })
  summaryP.catch(() => {})
  await Promise.race([
    new Promise<void>(resolve => probe.on('message', (m: { type: string }) => { if (m.type === 'ready') resolve() })),
    summaryP.then(() => { throw new Error(`${script} ended before it was ready`) })
  ])
  let stopped: Promise<ProbeSummary> | undefined
  return {
    pid: probe.pid as number,
    start: () => probe.send({ type: 'start' }),
    stop () {
      if (stopped === undefined) {
        probe.send({ type: 'stop' })
        stopped = summaryP.then(async l => { await probeExit; return l })
        stopped.catch(() => {})
      }
      return stopped
    }
  }
}

/**
 * A WebSocket client of the gateway's /api/v1/live subscribed to every
 * vehicle, in its own process (children/live-probe.ts): publish-to-live
 * latency. Ready once it has its snapshot.
 */
export async function startLiveProbe (httpUrl: string): Promise<LatencyProbe> {
  return await startProbe('../children/live-probe.ts', { LIVE_URL: httpUrl.replace(/^http/, 'ws') + '/api/v1/live' })
}

/**
 * An MQTT subscriber of every vehicle's telemetry on a bare broker, in its own
 * process (children/relay-probe.ts): publish-to-subscriber latency.
 */
export async function startRelayProbe (mqttUrl: string): Promise<LatencyProbe> {
  return await startProbe('../children/relay-probe.ts', { MQTT_URL: mqttUrl })
}

/** The gateway's /metrics as numbers, keyed by name and labels as written (e.g. `fleetgate_x{kind="a"}`). */
export async function scrapeMetrics (httpUrl: string): Promise<Map<string, number>> {
  const m = new Map<string, number>()
  for (const line of (await (await fetch(httpUrl + '/metrics')).text()).split('\n')) {
    const hit = /^(\w+(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (hit) m.set(hit[1] as string, Number(hit[2]))
  }
  return m
}

/** Waits (bounded) until the gateway's spool holds nothing QuestDB has not confirmed. */
export async function waitSpoolDrained (gw: { httpUrl: string }, timeoutMs = 180000): Promise<number> {
  const t0 = Date.now()
  for (;;) {
    // summed over every series: with GATEWAY_WORKERS each worker's spool has its own, labelled `worker`
    let bytes: number | undefined
    for (const [k, v] of await scrapeMetrics(gw.httpUrl)) {
      if (k === 'fleetgate_spool_unconfirmed_bytes' || k.startsWith('fleetgate_spool_unconfirmed_bytes{')) bytes = (bytes ?? 0) + v
    }
    if (bytes === 0 || Date.now() - t0 > timeoutMs) return Date.now() - t0
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** Mosquitto from the Debian package, installed if missing (needs root and apt). */
export function ensureMosquitto (): string {
  const which = (): string => spawnSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? ''
  let bin = which()
  if (!bin) {
    process.stderr.write('installing mosquitto (apt-get)\n')
    const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto'], { stdio: 'inherit' })
    if (r.status !== 0) throw new Error('could not install mosquitto with apt-get')
    bin = which()
  }
  if (!bin) throw new Error('mosquitto not found after install')
  return bin
}

export function mosquittoVersion (bin: string): string {
  const out = spawnSync(bin, ['-h'], { encoding: 'utf8' })
  return /mosquitto version (\S+)/.exec(out.stdout + out.stderr)?.[1] ?? 'unknown'
}

export async function startMosquitto (cleanup: Cleanup): Promise<{ url: string, pid: number, version: string }> {
  const bin = ensureMosquitto()
  const dir = tempDir(cleanup, 'fleetgate-bench-mosquitto-')
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'max_queued_messages 1000000',
    'max_inflight_messages 0',
    'max_connections -1',
    'log_type error',
    'log_dest stderr',
    ''
  ].join('\n'))
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] })
  cleanup.add(async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
  })
  // ready when the port answers
  const { connect } = await import('node:net')
  const deadline = Date.now() + 10000
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) break
    if (Date.now() > deadline) throw new Error('mosquitto did not start')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { url: `mqtt://127.0.0.1:${port}`, pid: child.pid as number, version: mosquittoVersion(bin) }
}

/** Debian's redis-server on a free loopback port, no persistence (the scale-out bench's bus). */
export async function startRedis (cleanup: Cleanup): Promise<{ url: string, pid: number }> {
  const bin = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
  const dir = tempDir(cleanup, 'fleetgate-bench-redis-')
  const port = await freePort()
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', ''], { stdio: 'ignore' })
  cleanup.add(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await new Promise(resolve => { const t = setTimeout(() => { child.kill('SIGKILL'); resolve(null) }, 10000); child.once('exit', () => { clearTimeout(t); resolve(null) }) })
  })
  const { connect } = await import('node:net')
  const deadline = Date.now() + 10000
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = connect(port, '127.0.0.1', () => s.write('PING\r\n'))
      s.once('data', d => { s.destroy(); resolve(d.toString().startsWith('+PONG')) })
      s.on('error', () => resolve(false))
    })
    if (ok) break
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid as number }
}

export interface NodeChild { pid: number, httpUrl: string, mqttUrl: string | null, stop: () => Promise<void> }

/**
 * `fleetgate gateway` or `fleetgate api` alone (a scale-out node) on free
 * loopback ports; resolves with the addresses it logs once up.
 */
export async function startNodeChild (cleanup: Cleanup, cmd: 'gateway' | 'api', env: Record<string, string>): Promise<NodeChild> {
  const up = await spawnFleetgate(cleanup, ['--import', 'tsx', 'bin/cli.ts', cmd], { ...process.env, MQTT_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', MQTT_PORT: '0', MQTT_WS_PORT: '-1', HTTP_PORT: '0', GATEWAY_HTTP_PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env }, `fleetgate ${cmd} up`, 90000)
  return { pid: up.child.pid as number, httpUrl: up.http, mqttUrl: up.mqtt, stop: up.stop }
}
