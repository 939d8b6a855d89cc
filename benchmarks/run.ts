// npm run bench [-- <name>... ] [--quick] [options]: runs the named benchmarks
// (default all) in one process, bounded and on loopback, and writes
// benchmarks/results/<time>.json (machine-readable, comparable between
// commits) and .md (the table), regenerates docs/benchmark-results.md (the
// latest run, committed; --no-doc leaves it alone) and prints the table.
// Ratios to the ceilings are taken from the same run.
import { parseArgs } from 'node:util'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { spawnSync } from 'node:child_process'
import { runEncoder } from './encoder.bench.js'
import { runIlp } from './ilp.bench.js'
import { runRelay } from './relay.bench.js'
import { runIngest } from './ingest.bench.js'
import { runOutage } from './outage.bench.js'
import { runPeer } from './peer.bench.js'
import { runScaleOut } from './scale-out.bench.js'
import { createCleanup, startBenchQuestDb, startMosquitto } from './harness/processes.js'
import { toMarkdown, toResultsDoc } from './harness/report.js'

// benchmarks that run as their own script (npm run bench -- api [options])
const STANDALONE = ['api', 'live', 'map', 'profile', 'memory', 'trips']
const first = process.argv[2]
if (first !== undefined && STANDALONE.includes(first)) {
  const file = new URL(`./${first}.bench.ts`, import.meta.url).pathname
  process.exit(spawnSync(process.execPath, ['--import', 'tsx', file, ...process.argv.slice(3)], { stdio: 'inherit' }).status ?? 1)
}

const NAMES = ['encoder', 'ilp', 'relay', 'ingest', 'outage', 'peer', 'scale-out'] as const
type Name = typeof NAMES[number]

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    'step-s': { type: 'string' },
    'warmup-s': { type: 'string' },
    'ceiling-s': { type: 'string' },
    vehicles: { type: 'string', default: '1000' },
    window: { type: 'string', default: '16' },
    'start-rate': { type: 'string', default: '5000' },
    'max-rate': { type: 'string', default: '200000' },
    factor: { type: 'string', default: '1.5' },
    refine: { type: 'string', default: '2' },
    'ack-modes': { type: 'string', default: 'spool,commit' },
    'fleet-vehicles': { type: 'string', default: '10000' },
    'fleet-rate': { type: 'string', default: '10000' },
    'no-scale': { type: 'boolean', default: false },
    'no-bare': { type: 'boolean', default: false },
    'latency-runs': { type: 'string' },
    'outage-s': { type: 'string' },
    'outage-rate': { type: 'string', default: '5000' },
    // peer: one fleetgate side per GATEWAY_WORKERS value (unset: one side without it)
    workers: { type: 'string' },
    pairs: { type: 'string' },
    'crash-rate': { type: 'string', default: '5000' },
    'crash-s': { type: 'string' },
    'peer-phases': { type: 'string', default: 'ladder,latency,crash' },
    // scale-out: the rate of its alternated runs (one process, across nodes on Redis)
    'scale-rate': { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false },
    'no-doc': { type: 'boolean', default: false }
  }
})
for (const p of positionals) {
  if (!(NAMES as readonly string[]).includes(p)) { process.stderr.write(`unknown benchmark ${p}; one of ${NAMES.join(', ')}\n`); process.exit(2) }
}
const names: Name[] = positionals.length > 0 ? positionals as Name[] : [...NAMES]
const stepS = Number(values['step-s'] ?? (values.quick ? 10 : 60))
// latency runs publish this long at their rate before they count
const warmupS = Number(values['warmup-s'] ?? (values.quick ? 5 : 10))
const ceilingS = Number(values['ceiling-s'] ?? (values.quick ? 10 : 30))
// latency runs at each latency rate (half the QoS 1 max, 20,000/s): the
// figures are their median, each run's p99 is shown beside it
const latencyRuns = Number(values['latency-runs'] ?? (values.quick ? 1 : 3))
if (!Number.isInteger(latencyRuns) || latencyRuns < 1) { process.stderr.write('--latency-runs must be a whole number >= 1\n'); process.exit(2) }

const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  commit,
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: loadavg().map(x => Math.round(x * 10) / 10)
  },
  settings: { stepS, warmupS, ceilingS, latencyRuns, vehicles: Number(values.vehicles), window: Number(values.window), startRate: Number(values['start-rate']), factor: Number(values.factor), refine: Number(values.refine), ackModes: values['ack-modes'].split(',') }
}

const cleanup = createCleanup()
const ac = new AbortController()
process.once('SIGINT', () => { ac.abort(); void cleanup.run().then(() => process.exit(130)) })
try {
  if (names.includes('encoder')) {
    process.stderr.write('encoder\n')
    results.encoder = await runEncoder()
  }
  const needDb = names.includes('ilp') || names.includes('ingest') || names.includes('peer') || names.includes('scale-out')
  const db = needDb ? await startBenchQuestDb(cleanup) : null
  if (db) (results.machine as Record<string, unknown>).questdb = db.version
  if (names.includes('ilp') && db) {
    process.stderr.write('ilp\n')
    results.ilp = await runIlp(db, { durationS: ceilingS })
  }
  // Mosquitto: the relay's ceilings, and the bare broker each ingest latency
  // run at 20,000/s is compared with (unless --no-bare)
  const needBroker = names.includes('relay') || (names.includes('ingest') && !values['no-bare'])
  const broker = needBroker ? await startMosquitto(cleanup) : null
  if (broker) (results.machine as Record<string, unknown>).mosquitto = broker.version
  if (names.includes('relay') && broker) {
    process.stderr.write('relay (mosquitto)\n')
    results.relay = await runRelay(broker, { durationS: ceilingS, vehicles: Number(values.vehicles), rate: Number(values['max-rate']), window: Number(values.window), scale: !values['no-scale'] })
  }
  // the load and ladder settings the ingest and peer benchmarks share
  const ladder = {
    warmupS,
    vehicles: Number(values.vehicles),
    window: Number(values.window),
    startRate: Number(values['start-rate']),
    maxRate: Number(values['max-rate']),
    factor: Number(values.factor),
    refine: Number(values.refine)
  }
  if (names.includes('ingest') && db) {
    results.ingest = await runIngest(cleanup, db, {
      ...ladder,
      stepS,
      ackModes: values['ack-modes'].split(','),
      fleetVehicles: Number(values['fleet-vehicles']),
      fleetRate: Number(values['fleet-rate']),
      latencyRuns,
      ...(broker && !values['no-bare'] ? { bareBroker: broker } : {})
    })
  }
  if (names.includes('outage')) {
    results.outage = await runOutage(cleanup, {
      outageS: Number(values['outage-s'] ?? (values.quick ? 20 : 60)),
      rate: Number(values['outage-rate']),
      liveRate: Math.round(Number(values['outage-rate']) / 5),
      vehicles: Number(values.vehicles),
      window: Number(values.window)
    })
  }
  if (names.includes('peer') && db) {
    const phases = values['peer-phases'].split(',')
    const workers = values.workers === undefined ? [undefined] : values.workers.split(',').map(Number)
    if (workers.some(w => w !== undefined && !(Number.isInteger(w) && w >= 0))) throw new Error('--workers takes a list of whole numbers >= 0 (0: gateway and api in one process), e.g. 0,2')
    results.peer = await runPeer(cleanup, db, {
      // 30 s ladder steps unless --step-s (the figure is a rate held 30 s)
      ...ladder,
      stepS: Number(values['step-s'] ?? (values.quick ? 10 : 30)),
      pairs: Number(values.pairs ?? (values.quick ? 1 : 3)),
      latencyRate: 20000,
      crashRate: Number(values['crash-rate']),
      crashS: Number(values['crash-s'] ?? (values.quick ? 15 : 30)),
      workers,
      phases: { ladder: phases.includes('ladder'), latency: phases.includes('latency'), crash: phases.includes('crash') }
    })
  }
  if (names.includes('scale-out') && db) {
    results.scaleOut = await runScaleOut(cleanup, db, {
      rate: Number(values['scale-rate']),
      vehicles: Number(values.vehicles),
      window: Number(values.window),
      warmupS,
      durationS: Number(values['step-s'] ?? (values.quick ? 10 : 30)),
      pairs: Number(values.pairs ?? (values.quick ? 1 : 3))
    })
  }
} finally {
  await cleanup.run()
}
results.loadAverageAtEnd = loadavg().map(x => Math.round(x * 10) / 10)
const md = toMarkdown(results)
const dir = new URL('./results/', import.meta.url)
mkdirSync(dir, { recursive: true })
const stamp = (results.date as string).replace(/[:.]/g, '-')
writeFileSync(new URL(`${stamp}.json`, dir), JSON.stringify(results, null, 2) + '\n')
writeFileSync(new URL(`${stamp}.md`, dir), md)
if (!values['no-doc']) writeFileSync(new URL('../docs/benchmark-results.md', import.meta.url), toResultsDoc(results, process.argv.slice(2)))
process.stdout.write(values.json ? JSON.stringify(results, null, 2) + '\n' : md)
