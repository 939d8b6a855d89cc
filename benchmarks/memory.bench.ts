// npm run bench -- memory [--vehicles 10000] [--rate 10000] [--idle-s 20] [--duration-s 30] [--ack-mode spool] [--node-args '...']
// Where the memory of `fleetgate start` (gateway and api in one process, as in
// the ingest benchmark's fleet step) goes: before any vehicle, with the fleet
// connected and idle, and while it publishes QoS 1 (window 1, every vehicle
// at rate / vehicles per second). Per phase: peak and last RSS (/proc, every
// 250 ms) and, from the gateway's /metrics at the end of the phase, the V8
// heap (old and new space, used and reserved) and external memory (Buffers).
// GC counts are left out: prom-client's GC histogram takes only the first
// entry of each batch the PerformanceObserver delivers, and under this load
// it counted 1.5 scavenges/s where v8.GCProfiler saw 13. Loopback only,
// bounded.
import { parseArgs } from 'node:util'
import { createCleanup, procStats, scrapeMetrics, startBenchQuestDb, startGatewayChild } from './harness/processes.js'
import { runLoad, summary } from './harness/load.js'

const { values } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '10000' },
    'idle-s': { type: 'string', default: '20' },
    'duration-s': { type: 'string', default: '30' },
    'ack-mode': { type: 'string', default: 'spool' },
    'node-args': { type: 'string', default: '' }
  }
})

const MB = 1048576
const round = (n: number): number => Math.round(n * 10) / 10

/** The gateway's own view of its memory, from the Prometheus text. */
async function scrape (httpUrl: string): Promise<Record<string, number>> {
  const m = await scrapeMetrics(httpUrl)
  const get = (k: string): number => m.get('fleetgate_' + k) ?? 0
  return {
    rssMb: round(get('process_resident_memory_bytes') / MB),
    heapUsedMb: round(get('nodejs_heap_size_used_bytes') / MB),
    heapTotalMb: round(get('nodejs_heap_size_total_bytes') / MB),
    oldUsedMb: round(get('nodejs_heap_space_size_used_bytes{space="old"}') / MB),
    oldTotalMb: round(get('nodejs_heap_space_size_total_bytes{space="old"}') / MB),
    newTotalMb: round(get('nodejs_heap_space_size_total_bytes{space="new"}') / MB),
    externalMb: round(get('nodejs_external_memory_bytes') / MB)
  }
}

const cleanup = createCleanup()
try {
  const db = await startBenchQuestDb(cleanup)
  const gw = await startGatewayChild(cleanup, db, { ACK_MODE: values['ack-mode'] }, values['node-args'].split(' ').filter(Boolean))
  let peak = 0
  const sampler = setInterval(() => { try { peak = Math.max(peak, procStats(gw.pid).rssMb) } catch {} }, 250)
  const vehicles = Number(values.vehicles)
  const load = { url: gw.mqttUrl, dataDir: gw.dataDir, vehicles, qos: 1 as const, window: 1, prefix: 'fleet-', connectSpreadS: 10 }
  await new Promise(resolve => setTimeout(resolve, 2000))
  const phases: Record<string, Record<string, unknown>> = { started: { ...await scrape(gw.httpUrl), rssPeakMb: peak } }

  // connected and idle: a fleet rate of 1/s leaves each vehicle's first reading hours away
  let atEnd: Promise<Record<string, number>> | undefined
  peak = 0
  const idle = await runLoad({ ...load, rate: 1, durationS: Number(values['idle-s']), onPhase: p => { if (p === 'draining') atEnd = scrape(gw.httpUrl) } })
  phases.idle = { connected: idle.connected, ...await atEnd, rssPeakMb: peak }

  peak = 0
  let cpu0 = 0
  let t0 = 0
  let cpuPct = 0
  const pub = await runLoad({
    ...load,
    rate: Number(values.rate),
    durationS: Number(values['duration-s']),
    onPhase: p => {
      if (p === 'publishing') { cpu0 = procStats(gw.pid).cpuS; t0 = performance.now(); peak = 0; return }
      if (p !== 'draining') return
      cpuPct = Math.round((procStats(gw.pid).cpuS - cpu0) / ((performance.now() - t0) / 1000) * 100)
      atEnd = scrape(gw.httpUrl)
    }
  })
  phases.publishing = { ...summary(pub), ...await atEnd, rssPeakMb: peak, gatewayCpuPct: cpuPct }
  clearInterval(sampler)
  await gw.stop()
  console.log(JSON.stringify({ settings: values, phases }, null, 2))
} finally {
  await cleanup.run()
}
