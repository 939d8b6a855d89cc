// The scale-out deployment end to end, as users run it (API keys required):
// Redis, one QuestDB, two `fleetgate gateway` nodes (NODE_ID, a SPOOL_DIR
// each), one `fleetgate api` node, and Debian's HAProxy running the shipped
// deploy/haproxy.cfg itself (its addresses from the environment). The
// simulator connects through HAProxy. 1: `fleetgate simulate --verify` finds
// every acknowledged reading once, both nodes carried vehicles, and the live
// feed (through HAProxy too) shows them. 2: node 1 killed with SIGKILL under
// load, its vehicles reconnect through HAProxy to node 2, a replacement node
// started on node 1's SPOOL_DIR replays it: nothing missing, nothing twice.
// Every wait is bounded; every process is stopped by its pid at teardown.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePorts } from '../lib/free-ports.js'
import { startQuestDbForTest, pollUntil, tempDir, duplicateReadings } from './helper.js'
import { startGatewayProcess, stopProcess, exited } from './gateway-process-helper.js'
import { startRedisForTest } from './redis-helper.js'
import { openLive, wsUrl } from '../api/test/live-helper.js'
import { createApiKey } from '../api/src/api-keys.js'
import { obtainTokens } from '../simulator/src/tokens.js'
import { simulate, vehicleIds } from '../simulator/src/simulate.js'
import { verify, type VerifyResult } from '../simulator/src/verify.js'

const root = fileURLToPath(new URL('../', import.meta.url))
const HAPROXY = process.env.HAPROXY ?? '/usr/sbin/haproxy'
const HAPROXY_CFG = join(root, 'deploy', 'haproxy.cfg')

async function get (url: string): Promise<Response | null> {
  return await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => null)
}

async function metrics (httpUrl: string): Promise<string> {
  return await (await get(`${httpUrl}/metrics`))?.text() ?? ''
}

/** The sum of a metric's samples whose labels include `label`. */
function metricSum (body: string, name: string, label: string): number {
  let n = 0
  for (const m of body.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) if ((m[1] as string).includes(label)) n += Number(m[2])
  return n
}

interface Node { id: string, mqttPort: number, httpPort: number, spoolDir: string, proc: ChildProcess, logs: string[] }

interface Deployment {
  dataDir: string
  pgUrl: string
  mqttUrl: string
  httpUrl: string
  apiKey: string
  gateways: [Node, Node]
  /** A gateway node (another process) on `like`'s ports and spool, as an operator starts a replacement. */
  replace: (like: Node, id: string) => Promise<Node>
  haproxyLog: string[]
}

/** Everything the test starts, in start order, stopped in reverse at teardown. */
async function deploy (t: Test, gw1Env: Record<string, string> = {}): Promise<Deployment> {
  const [db, redis] = await Promise.all([startQuestDbForTest(t), startRedisForTest(t)])
  const dataDir = tempDir(t)
  const [hpMqtt, hpHttp, mq1, gh1, mq2, gh2, apiPort] = await freePorts(7) as [number, number, number, number, number, number, number]
  const { key } = createApiKey(dataDir, 'read')
  const common = { DATA_DIR: dataDir, MQTT_HOST: '127.0.0.1', MQTT_WS_PORT: '-1', HTTP_HOST: '127.0.0.1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, REDIS_URL: redis.url }
  const procs: ChildProcess[] = []
  t.teardown(async () => {
    for (const p of procs.reverse()) await stopProcess(p)
  })
  const startNode = (id: string, mqttPort: number, httpPort: number, spoolDir: string, extra: Record<string, string> = {}): Node => {
    const logs: string[] = []
    const proc = startGatewayProcess({ ...common, NODE_ID: id, MQTT_PORT: String(mqttPort), GATEWAY_HTTP_PORT: String(httpPort), SPOOL_DIR: spoolDir, ...extra }, 'gateway', { logLevel: 'info', logs })
    procs.push(proc)
    return { id, mqttPort, httpPort, spoolDir, proc, logs }
  }
  const ready = async (url: string, what: string): Promise<void> => {
    await pollUntil(async () => (await get(`${url}/readyz`))?.status === 200, 90000, what)
  }
  const gateways: [Node, Node] = [
    startNode('gw1', mq1, gh1, join(dataDir, 'spool-gw1'), gw1Env),
    startNode('gw2', mq2, gh2, join(dataDir, 'spool-gw2'))
  ]
  const api = startGatewayProcess({ ...common, NODE_ID: 'api1', HTTP_PORT: String(apiPort) }, 'api')
  procs.push(api)
  await Promise.all([...gateways.map(async g => { await ready(`http://127.0.0.1:${g.httpPort}`, `${g.id} ready`) }), ready(`http://127.0.0.1:${apiPort}`, 'api1 ready')])

  // the shipped file, its addresses from the environment; this test runs one
  // api node, so both api servers of the file name it
  const haproxyLog: string[] = []
  const haproxy = spawn(HAPROXY, ['-f', HAPROXY_CFG], {
    env: {
      ...process.env,
      FLEETGATE_MQTT_BIND: `127.0.0.1:${hpMqtt}`,
      FLEETGATE_HTTP_BIND: `127.0.0.1:${hpHttp}`,
      GATEWAY1_MQTT: `127.0.0.1:${mq1}`,
      GATEWAY1_CHECK_PORT: String(gh1),
      GATEWAY2_MQTT: `127.0.0.1:${mq2}`,
      GATEWAY2_CHECK_PORT: String(gh2),
      API1_HTTP: `127.0.0.1:${apiPort}`,
      API2_HTTP: `127.0.0.1:${apiPort}`
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  procs.push(haproxy)
  for (const s of [haproxy.stdout, haproxy.stderr]) s.setEncoding('utf8').on('data', (d: string) => { haproxyLog.push(d) })
  const httpUrl = `http://127.0.0.1:${hpHttp}`
  await pollUntil(async () => {
    if (haproxy.exitCode !== null) throw new Error(`haproxy exited with ${haproxy.exitCode}: ${haproxyLog.join('')}`)
    return (await get(`${httpUrl}/readyz`))?.status === 200
  }, 30000, 'haproxy forwarding to the api')

  return {
    dataDir,
    pgUrl: db.pgUrl,
    mqttUrl: `mqtt://127.0.0.1:${hpMqtt}`,
    httpUrl,
    apiKey: key,
    gateways,
    haproxyLog,
    async replace (like, id) {
      const node = startNode(id, like.mqttPort, like.httpPort, like.spoolDir)
      await ready(`http://127.0.0.1:${node.httpPort}`, `${id} ready`)
      return node
    }
  }
}

function describe (v: VerifyResult): string {
  return `${v.found} of ${v.expected} found, ${v.missing} missing, ${v.duplicated} duplicated, ${v.unexpected} unexpected`
}

t.test('the simulator through HAProxy: both nodes carry vehicles, --verify finds every acknowledged reading once, the live feed shows them', async t => {
  const d = await deploy(t)
  const [gw1, gw2] = d.gateways
  const n = 20
  const ids = vehicleIds(n, 'hp-')
  obtainTokens(d.dataDir, ids)

  const live = await openLive(t, wsUrl(d.httpUrl), { headers: { authorization: `Bearer ${d.apiKey}` } })
  live.send({ type: 'subscribe', vehicles: '*' })
  await live.next(m => m.type === 'snapshot', 'snapshot')

  // `fleetgate simulate --verify`, as an operator runs it against HAProxy
  const sim = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'simulate',
    '--url', d.mqttUrl, '--vehicles', String(n), '--prefix', 'hp-', '--hz', '5', '--parked-interval', '0.2',
    '--duration', '10', '--qos', '1', '--window', '4', '--data-dir', d.dataDir, '--pg-url', d.pgUrl, '--verify', '--json'], {
    cwd: root, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => stopProcess(sim, 1000))
  let out = ''
  let err = ''
  sim.stdout.setEncoding('utf8').on('data', (x: string) => { out += x })
  sim.stderr.setEncoding('utf8').on('data', (x: string) => { err += x })
  const code = new Promise<number | null>(resolve => sim.once('exit', c => resolve(c)))

  // while it runs: every vehicle is on one node or the other, and on both some
  let perNode = [0, 0]
  await pollUntil(async () => {
    perNode = await Promise.all([gw1, gw2].map(async g => metricSum(await metrics(`http://127.0.0.1:${g.httpPort}`), 'fleetgate_mqtt_connected_clients', `node="${g.id}"`)))
    return perNode[0] as number > 0 && perNode[1] as number > 0 && (perNode[0] as number) + (perNode[1] as number) === n
  }, 30000, 'sessions on both nodes').catch(() => {})
  t.ok(perNode[0] as number > 0 && perNode[1] as number > 0, `HAProxy spread the vehicles over both nodes (gw1 ${perNode[0]}, gw2 ${perNode[1]})`)
  t.equal((perNode[0] as number) + (perNode[1] as number), n, 'each vehicle holds one session, on one node')

  let timer: NodeJS.Timeout | undefined
  const exitCode = await Promise.race([code, new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), 180000) })])
  clearTimeout(timer)
  t.equal(exitCode, 0, `the simulator exits 0 (${err.trim().split('\n').slice(-1)[0] ?? ''})`)
  const report = JSON.parse(out) as { acked: number, verify?: VerifyResult }
  const v = report.verify
  t.ok(report.acked > 0, `${report.acked} readings acknowledged`)
  t.ok(v !== undefined && v.ok && v.missing === 0 && v.duplicated === 0 && v.found === report.acked, `--verify: every acknowledged reading in QuestDB once (${v ? describe(v) : 'no verify'})`)

  for (const g of [gw1, gw2]) {
    const accepted = metricSum(await metrics(`http://127.0.0.1:${g.httpPort}`), 'fleetgate_readings_accepted_total', `node="${g.id}"`)
    t.ok(accepted > 0, `${g.id} accepted readings, counted under node="${g.id}" (${accepted})`)
  }
  // every vehicle was on gw1 or gw2 and both held some: a feed with all of
  // them shows vehicles of both nodes
  const seen = new Set(live.positions.map(p => p.vehicle_id))
  t.same(ids.filter(id => !seen.has(id)), [], 'the live feed on the api node, through HAProxy, shows every vehicle of both nodes')
})

t.test('kill -9 of node 1 under load through HAProxy, a replacement replays its spool: nothing missing, nothing twice', async t => {
  // node 1 sends to QuestDB at most once a minute, as when QuestDB lags: at
  // the kill, what it acknowledged is in its spool only, and only the
  // replacement's replay can bring it to QuestDB
  const d = await deploy(t, { ILP_FLUSH_INTERVAL_MS: '60000' })
  const [gw1, gw2] = d.gateways
  const n = 30
  const ids = vehicleIds(n, 'hk-')
  const tokens = obtainTokens(d.dataDir, ids)
  const gwMetrics = async (g: Node, name: string): Promise<number> => metricSum(await metrics(`http://127.0.0.1:${g.httpPort}`), name, `node="${g.id}"`)

  const ac = new AbortController()
  t.teardown(() => { ac.abort() })
  let acked = 0
  const run = simulate({ url: d.mqttUrl, vehicles: n, tokens, prefix: 'hk-', hz: 10, parkedIntervalS: 0.1, qos: 1, window: 4, durationS: 240, drainTimeoutS: 30, onProgress: p => { acked = p.acked } }, { signal: ac.signal })

  // under load, with vehicles on both nodes
  await pollUntil(async () => acked > 1500 && await gwMetrics(gw1, 'fleetgate_mqtt_connected_clients') > 0 && await gwMetrics(gw2, 'fleetgate_mqtt_connected_clients') > 0, 90000, 'load on both nodes')
  const onGw1 = await gwMetrics(gw1, 'fleetgate_mqtt_connected_clients')
  const unconfirmed = await gwMetrics(gw1, 'fleetgate_spool_unconfirmed_bytes')
  t.ok(onGw1 > 0, `${onGw1} vehicles on node 1, ${acked} readings acknowledged`)
  t.ok(unconfirmed > 0, `node 1 holds ${unconfirmed} acknowledged bytes QuestDB has not confirmed`)

  gw1.proc.kill('SIGKILL')
  await exited(gw1.proc)
  t.equal(gw1.proc.signalCode, 'SIGKILL', `node 1 (pid ${gw1.proc.pid}) killed`)

  // its vehicles reconnect through HAProxy, to node 2
  await pollUntil(async () => await gwMetrics(gw2, 'fleetgate_mqtt_connected_clients') === n, 60000, 'every vehicle on node 2').catch(() => {})
  t.equal(await gwMetrics(gw2, 'fleetgate_mqtt_connected_clients'), n, 'every vehicle reconnected through HAProxy to node 2')
  const ackedOnGw2 = acked
  await pollUntil(async () => acked > ackedOnGw2 + 500, 30000, 'acknowledgements from node 2')
  t.pass('node 2 acknowledges their readings')

  // the operator mounts node 1's disk on a new node: same spool, same address
  const gw3 = await d.replace(gw1, 'gw3')
  const replayed = gw3.logs.filter(l => l.startsWith('{')).map(l => JSON.parse(l) as { msg?: string, bytes?: number }).find(l => l.msg === 'spool: replaying unconfirmed data')
  t.ok((replayed?.bytes ?? 0) > 0, `the replacement replays node 1's spool (${replayed?.bytes ?? 0} bytes)`)
  await pollUntil(async () => {
    const body = await metrics(`http://127.0.0.1:${gw3.httpPort}`)
    return body.includes('fleetgate_spool_unconfirmed_bytes') && metricSum(body, 'fleetgate_spool_unconfirmed_bytes', 'node="gw3"') === 0
  }, 120000, 'the replacement drained the spool')
  t.pass('the replacement drained node 1\'s spool into QuestDB')

  ac.abort()
  const report = await run
  const v = await verify(report.ledger, d.pgUrl)
  t.ok(report.reconnects >= onGw1, `${report.reconnects} reconnects, ${report.acked} acknowledged, ${report.unacked} sent but never acknowledged`)
  t.equal(v.missing, 0, `--verify: 0 acknowledged readings missing (${describe(v)})`)
  t.equal(v.duplicated, 0, '--verify: 0 duplicated')
  t.ok(v.ok, 'verify OK (unacknowledged readings found at most as many as sent)')
  t.equal(await duplicateReadings(d.pgUrl), 0, 'no reading twice in the table')
})
