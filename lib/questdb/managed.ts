// Managed QuestDB: fetch the official jar from Maven Central with mvn (cached in
// .cache/questdb), pick a JDK that runs it, start it on 127.0.0.1 and free
// ports with its own data folder, wait until /ping answers 204 and pg answers
// SELECT 1, and stop it cleanly; supervised, restart it with backoff on the
// same ports when it dies. Used by `npm start`, the tests and the benchmarks
// alike; `scripts/questdb.ts` is its command line.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePorts } from '../free-ports.js'

const execFileP = promisify(execFile)
const projectRoot = fileURLToPath(new URL('../..', import.meta.url))
const here = fileURLToPath(new URL('.', import.meta.url))
export const CACHE_DIR = join(projectRoot, '.cache', 'questdb')

interface Release { version: string, javaMin: number }
interface Pins { groupId: string, artifactId: string, releases: Release[] }
const pins: Pins = JSON.parse(readFileSync(join(here, 'releases.json'), 'utf8'))

export interface Jdk { home: string, java: string, major: number }
export interface Choice { release: Release, jdk: Jdk }
export type LogFn = (msg: string, data?: Record<string, unknown>) => void
const noLog: LogFn = () => {}

export function pinnedVersion (): string {
  return (pins.releases[0] as Release).version
}

function majorOf (version: string): number {
  const m = /^(?:1\.)?(\d+)/.exec(version)
  return m ? Number(m[1]) : 0
}

/** JDKs from JAVA_HOME, /usr/lib/jvm and PATH, read from their `release` files. */
export function findJdks (): Jdk[] {
  const homes = new Set<string>()
  if (process.env.JAVA_HOME) homes.add(resolve(process.env.JAVA_HOME))
  if (existsSync('/usr/lib/jvm')) {
    for (const d of readdirSync('/usr/lib/jvm')) homes.add(join('/usr/lib/jvm', d))
  }
  const seen = new Set<string>()
  const jdks: Jdk[] = []
  for (const home of homes) {
    const java = join(home, 'bin', 'java')
    const release = join(home, 'release')
    if (!existsSync(java) || !existsSync(release)) continue
    const m = /JAVA_VERSION="([^"]+)"/.exec(readFileSync(release, 'utf8'))
    if (!m) continue
    // /usr/lib/jvm holds aliases of the same JDK: keep one per release file
    const key = readFileSync(release, 'utf8')
    if (seen.has(key)) continue
    seen.add(key)
    jdks.push({ home, java, major: majorOf(m[1] as string) })
  }
  return jdks.sort((a, b) => a.major - b.major)
}

/** The newest pinned release some JDK here runs, on the oldest JDK that runs it. */
export function choose (jdks = findJdks()): Choice {
  for (const release of pins.releases) {
    const jdk = jdks.find(j => j.major >= release.javaMin)
    if (jdk) return { release, jdk }
  }
  throw new Error(`no JDK found that runs QuestDB ${pins.releases.map(r => `${r.version} (java >= ${r.javaMin})`).join(', ')}; found: ${jdks.map(j => j.major).join(', ') || 'none'}. Install a JDK or set JAVA_HOME.`)
}

export function jarPath (version: string): string {
  return join(CACHE_DIR, `${pins.artifactId}-${version}.jar`)
}

/** Fetch the jar with mvn unless it is cached already. */
export async function ensureJar (version: string, log: LogFn = noLog): Promise<string> {
  const jar = jarPath(version)
  if (existsSync(jar)) return jar
  await mkdir(CACHE_DIR, { recursive: true })
  const tmpDir = join(CACHE_DIR, `.fetch-${process.pid}`)
  log('fetching questdb jar from maven central', { version })
  await execFileP('mvn', ['-q', '-B', 'dependency:copy',
    `-Dartifact=${pins.groupId}:${pins.artifactId}:${version}:jar`,
    `-DoutputDirectory=${tmpDir}`], { maxBuffer: 16 * 1024 * 1024 })
  await rename(join(tmpDir, `${pins.artifactId}-${version}.jar`), jar)
  await rm(tmpDir, { recursive: true, force: true })
  return jar
}

/**
 * Defaults for the managed QuestDB, which shares its machine with the gateway;
 * the same variable in the environment wins. After any job a QuestDB worker
 * idles by pausing thousands of times before it first sleeps, so with a write
 * every few hundred ms its threads spin instead of sleeping. Napping after a
 * few pauses gives that core back to the gateway, at the price of an idle
 * query or write waiting up to one 10 ms sleep more. The ingest benchmark
 * (`npm run bench -- ingest`) measures it.
 */
export const QUESTDB_TUNING: Readonly<Record<string, string>> = {
  QDB_SHARED_WORKER_YIELD_THRESHOLD: '10',
  QDB_SHARED_WORKER_NAP_THRESHOLD: '20',
  QDB_SHARED_WORKER_SLEEP_THRESHOLD: '30',
  QDB_WAL_APPLY_WORKER_YIELD_THRESHOLD: '10',
  QDB_WAL_APPLY_WORKER_NAP_THRESHOLD: '20',
  QDB_WAL_APPLY_WORKER_SLEEP_THRESHOLD: '30'
}

/**
 * QuestDB's log configuration (`-Dout`): errors and advisories only, to stdout,
 * of which the last 8 KB are kept for a failed start. Its default logs every
 * HTTP request and WAL commit at INFO, which costs its logging thread CPU under
 * load and goes nowhere (measured by `npm run bench -- ingest`).
 */
export const LOG_CONF = join(here, 'log.conf')

export interface QuestDbPorts { http: number, pg: number, ilp: number, httpMin: number }

export interface StartOptions {
  root: string
  ports?: Partial<QuestDbPorts>
  log?: LogFn
  readyTimeoutMs?: number
  /** Ends a start that is still waiting for readiness. */
  signal?: AbortSignal
}

export interface ManagedQuestDb {
  httpUrl: string
  pgUrl: string
  ports: QuestDbPorts
  version: string
  pid: number
  stop: () => Promise<void>
  /** Resolves when the JVM exits, for whatever reason. */
  exited: Promise<number | null>
  /** The last 8 KB QuestDB wrote to stdout and stderr. */
  output: () => string
}

export async function startQuestDb (opts: StartOptions): Promise<ManagedQuestDb> {
  const log = opts.log ?? noLog
  const { release, jdk } = choose()
  const jar = await ensureJar(release.version, log)
  const free = await freePorts(4)
  const ports: QuestDbPorts = {
    http: opts.ports?.http ?? free[0] as number,
    pg: opts.ports?.pg ?? free[1] as number,
    ilp: opts.ports?.ilp ?? free[2] as number,
    httpMin: opts.ports?.httpMin ?? free[3] as number
  }
  const root = resolve(opts.root)
  await mkdir(root, { recursive: true })
  log('starting questdb', { version: release.version, java: jdk.major, javaHome: jdk.home, root, ports })
  const env = {
    ...QUESTDB_TUNING,
    ...process.env,
    QDB_HTTP_BIND_TO: `127.0.0.1:${ports.http}`,
    QDB_PG_NET_BIND_TO: `127.0.0.1:${ports.pg}`,
    QDB_LINE_TCP_NET_BIND_TO: `127.0.0.1:${ports.ilp}`,
    QDB_HTTP_MIN_NET_BIND_TO: `127.0.0.1:${ports.httpMin}`,
    QDB_LINE_UDP_ENABLED: 'false',
    QDB_TELEMETRY_ENABLED: 'false',
    JAVA_HOME: jdk.home
  }
  // The JVM runs under a tiny shell guard that ends it when our stdin closes,
  // so QuestDB never outlives this process, even after a SIGKILL of node.
  const javaCmd = [jdk.java, '-Xms256m', '-XX:+UseParallelGC', `-Dout=${LOG_CONF}`, '-p', jar, '-m', 'io.questdb/io.questdb.ServerMain', '-d', root]
    .map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  // (bash gives background jobs /dev/null as stdin, hence the copy on fd 3)
  const guard = `exec 3<&0; ${javaCmd} </dev/null & J=$!; echo "jvm $J"; (cat <&3 >/dev/null; kill $J 2>/dev/null) & W=$!; exec 3<&-; wait $J; S=$?; kill $W 2>/dev/null; exit $S`
  const child: ChildProcess = spawn('bash', ['-c', guard], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  const keep = (b: Buffer): void => { output = (output + b.toString()).slice(-8192) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let jvmPid = 0
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  let alive = true
  void exited.then(() => { alive = false })

  const httpUrl = `http://127.0.0.1:${ports.http}`
  const pgUrl = `postgres://admin:quest@127.0.0.1:${ports.pg}/qdb`
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60000)
  for (;;) {
    if (!jvmPid) {
      const m = /jvm (\d+)/.exec(output)
      if (m) jvmPid = Number(m[1])
    }
    if (!alive) throw new Error(`questdb exited before it was ready:\n${output}`)
    if (opts.signal?.aborted) {
      child.stdin?.end()
      await exited
      throw new Error('questdb start aborted')
    }
    if (Date.now() > deadline) {
      child.stdin?.end()
      throw new Error(`questdb not ready within ${opts.readyTimeoutMs ?? 60000} ms:\n${output}`)
    }
    if (await isReady(httpUrl, pgUrl)) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  log('questdb ready', { httpUrl, pgUrl: pgUrl.replace(/:[^:@/]+@/, ':***@') })

  let stopping: Promise<void> | undefined
  async function stop (): Promise<void> {
    stopping ??= (async () => {
      if (!alive) return
      child.stdin?.end()
      const timer = setTimeout(() => {
        if (jvmPid) { try { process.kill(jvmPid, 'SIGKILL') } catch {} }
      }, 20000)
      await exited
      clearTimeout(timer)
    })()
    return await stopping
  }
  return { httpUrl, pgUrl, ports, version: release.version, pid: jvmPid, stop, exited, output: () => output }
}

export interface SuperviseOptions extends StartOptions {
  /** Required: the same ports at every restart, so that addresses given out stay valid. */
  ports: QuestDbPorts
  backoffMinMs?: number
  backoffMaxMs?: number
  /** The JVM died on its own; a restart follows in restartInMs. */
  onExit?: (info: { code: number | null, pid: number, restartInMs: number, output: string }) => void
  /** A restart failed; the next try follows in retryInMs. */
  onRestartFailed?: (info: { err: Error, retryInMs: number }) => void
  /** Up again after an exit. */
  onRestart?: (info: { pid: number, restarts: number }) => void
}

export interface SupervisedQuestDb {
  httpUrl: string
  pgUrl: string
  ports: QuestDbPorts
  version: string
  /** The current JVM's pid. */
  pid: () => number
  /** False from the JVM's exit until it answers again. */
  up: () => boolean
  restarts: () => number
  stop: () => Promise<void>
}

/** Below this uptime an exit counts as part of a crash loop and the backoff keeps growing. */
const STABLE_MS = 60000

/**
 * A managed QuestDB that is started again, with exponential backoff, whenever
 * its JVM exits without stop(). The first start is awaited and its failure
 * thrown: a missing JDK or a taken port is for the operator to fix.
 */
export async function superviseQuestDb (opts: SuperviseOptions): Promise<SupervisedQuestDb> {
  const minMs = opts.backoffMinMs ?? 1000
  const maxMs = opts.backoffMaxMs ?? 30000
  let current = await startQuestDb(opts)
  let startedAt = Date.now()
  let up = true
  let restarts = 0
  let stopping = false
  const abort = new AbortController()
  let wake: (() => void) | null = null
  const sleep = async (ms: number): Promise<void> => await new Promise<void>(resolve => {
    const timer = setTimeout(resolve, ms)
    wake = () => { clearTimeout(timer); resolve() }
  }).finally(() => { wake = null })

  async function watch (): Promise<void> {
    let backoff = minMs
    for (;;) {
      const code = await current.exited
      if (stopping) return
      up = false
      backoff = Date.now() - startedAt < STABLE_MS ? backoff : minMs
      opts.onExit?.({ code, pid: current.pid, restartInMs: backoff, output: current.output() })
      for (;;) {
        await sleep(backoff)
        if (stopping) return
        // whether this try fails or the next instance dies young, wait longer next time
        backoff = Math.min(backoff * 2, maxMs)
        try {
          current = await startQuestDb({ ...opts, signal: abort.signal })
          startedAt = Date.now()
          restarts++
          up = true
          opts.onRestart?.({ pid: current.pid, restarts })
          break
        } catch (err) {
          if (stopping) return
          opts.onRestartFailed?.({ err: err as Error, retryInMs: backoff })
        }
      }
    }
  }
  const watching = watch()

  let stopped: Promise<void> | undefined
  return {
    httpUrl: current.httpUrl,
    pgUrl: current.pgUrl,
    ports: opts.ports,
    version: current.version,
    pid: () => current.pid,
    up: () => up,
    restarts: () => restarts,
    async stop () {
      stopped ??= (async () => {
        stopping = true
        abort.abort()
        wake?.()
        // the watcher waits for this instance's exit, or for a start that the abort ends
        await current.stop()
        await watching
        await current.stop()
      })()
      return await stopped
    }
  }
}

export async function isReady (httpUrl: string, pgUrl: string): Promise<boolean> {
  try {
    const res = await fetch(httpUrl + '/ping', { signal: AbortSignal.timeout(2000) })
    if (res.status !== 204) return false
  } catch { return false }
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}
