// What a run counts as it goes, and the report and progress made from it.
import { QUARANTINED, type FaultInjector, type FaultKind } from './faults.js'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { LatencyRecorder } from './stats.js'

const LAG_RESOLUTION_MS = 10

export interface Ledger {
  qos: 0 | 1
  /** vehicleId -> ts (epoch ms) of each reading acknowledged (QoS 0: written), once each */
  byVehicle: Map<string, number[]>
  /** Readings sent and never acknowledged (they may or may not be stored). */
  unacked: number
  /** Fault messages acknowledged, by the reason the gateway must record. */
  quarantinedAcked: Record<string, number>
  vehicleIds: string[]
  minTsMs: number
  maxTsMs: number
  startedAtMs: number
  endedAtMs: number
}

export interface Report {
  vehicles: number
  connected: number
  connectFailures: number
  reconnects: number
  qos: 0 | 1
  window: number
  shape: string
  transport: string
  /** valid readings sent (a duplicate's second copy is counted under faults) */
  sent: number
  acked: number
  unacked: number
  errors: number
  /** Slots skipped because the vehicle was backlogged (maxQueued). */
  skipped: number
  faults: Record<FaultKind, number>
  /** Wrong-token connects the broker refused (CONNACK return code 4 or 5). */
  wrongTokenRefused: number
  /** Fault messages sent that the gateway must quarantine. */
  rejectedOnPurpose: number
  offline: { spells: number, bufferedReadings: number, batches: number }
  durationS: number
  ratePerS: number
  ackRatePerS: number
  /** This process's CPU (user + system, % of one core) while publishing: the simulator's own cost when it runs alone. */
  cpuPct: number
  /** PUBACK latency of the QoS 1 readings sent after the warm-up. */
  pubackMs: { p50: number, p90: number, p99: number, max: number }
  warmupS: number
  /** QoS 1 acknowledgements counted in pubackMs. */
  pubackSamples: number
  /** PUBACK latency of all QoS 1 readings, warm-up included (equal to pubackMs without one). */
  pubackAllMs: { p50: number, p90: number, p99: number, max: number }
  /**
   * This process's own event-loop delay while publishing after the warm-up:
   * how late the simulator itself ran, which every latency above includes.
   */
  loopLagMs: { p50: number, p99: number, max: number }
  /** PUBACK latency by the second of the run the reading was sent in, warm-up included. */
  pubackTimeline: Array<{ s: number, n: number, p50: number, p99: number, max: number }>
  connectMs: { p50: number, p90: number, p99: number, max: number }
  ledger: Ledger
}

export interface Progress { elapsedS: number, sent: number, acked: number, inflight: number, errors: number, connected: number, ratePerS: number }

/** The run's counters: simulate() adds to them, the report reads them. */
export interface Tally {
  sent: number
  acked: number
  errors: number
  skipped: number
  connectFailures: number
  reconnects: number
  spells: number
  bufferedReadings: number
  batches: number
  /** Range of the acknowledged readings' ts (epoch ms). */
  minTs: number
  maxTs: number
}

export function createTally (): Tally {
  return { sent: 0, acked: 0, errors: 0, skipped: 0, connectFailures: 0, reconnects: 0, spells: 0, bufferedReadings: 0, batches: 0, minTs: Infinity, maxTs: -Infinity }
}

/** A vehicle as the report reads it: its id and the ts of its acknowledged readings. */
export interface Reported { id: string, acked: number[] }

/** PUBACK latency after the warm-up, of all readings, and by the second of the run. */
export interface PubackLatency {
  record: (sinceStartMs: number, ms: number) => void
}

export function createPubackLatency (warmupMs: number): PubackLatency & { after: LatencyRecorder, all: LatencyRecorder, bySecond: LatencyRecorder[] } {
  const after = new LatencyRecorder()
  const all = warmupMs > 0 ? new LatencyRecorder() : after
  const bySecond: LatencyRecorder[] = []
  return {
    after,
    all,
    bySecond,
    record (sinceStartMs, ms) {
      if (sinceStartMs >= warmupMs) after.record(ms)
      if (all !== after) all.record(ms)
      const sec = Math.max(0, Math.floor(sinceStartMs / 1000))
      while (bySecond.length <= sec) bySecond.push(new LatencyRecorder(5000))
      ;(bySecond[sec] as LatencyRecorder).record(ms)
    }
  }
}

/** Publishing's length (performance.now() ms), this process's CPU meanwhile, and its own event-loop delay after the warm-up. */
export interface Publishing { publishMs: number, cpu: NodeJS.CpuUsage, loopLagMs: Report['loopLagMs'] }

/** Starts measuring publishing; warmedUp() drops the event-loop delay seen so far. */
export function measurePublishing (): { warmedUp: () => void, stop: () => Publishing } {
  // sampled every LAG_RESOLUTION_MS; a sample is that interval plus the delay
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lag.enable()
  const publishStart = performance.now()
  const cpu0 = process.cpuUsage()
  return {
    warmedUp () { lag.reset() },
    stop () {
      const publishEnd = performance.now()
      const cpu = process.cpuUsage(cpu0)
      lag.disable()
      const lagMs = (ns: number): number => lag.count === 0 ? 0 : Math.round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100
      return { publishMs: publishEnd - publishStart, cpu, loopLagMs: { p50: lagMs(lag.percentile(50)), p99: lagMs(lag.percentile(99)), max: lagMs(lag.max) } }
    }
  }
}

export interface RunFacts extends Publishing {
  vehicles: number
  qos: 0 | 1
  window: number
  shape: string
  url: string
  ids: string[]
  sims: Reported[]
  /** Vehicles connected at the end of the drain, before the clients closed. */
  connected: number
  tally: Tally
  faults: Pick<FaultInjector<never>, 'counts' | 'quarantinedAcked' | 'wrongTokenRefused'>
  puback: ReturnType<typeof createPubackLatency>
  connectLatency: LatencyRecorder
  warmupMs: number
  startedAtMs: number
}

export function buildReport (f: RunFacts): Report {
  const { tally: t, qos } = f
  const durationS = f.publishMs / 1000
  const byVehicle = new Map<string, number[]>()
  for (const s of f.sims) byVehicle.set(s.id, [...new Set(s.acked)])
  const cl = f.connectLatency.summary()
  return {
    vehicles: f.vehicles,
    connected: f.connected,
    connectFailures: t.connectFailures,
    reconnects: t.reconnects,
    qos,
    window: f.window,
    shape: f.shape,
    transport: new URL(f.url).protocol.replace(':', ''),
    sent: t.sent,
    acked: t.acked,
    unacked: t.sent - t.acked,
    errors: t.errors,
    skipped: t.skipped,
    faults: f.faults.counts,
    wrongTokenRefused: f.faults.wrongTokenRefused(),
    rejectedOnPurpose: QUARANTINED.reduce((n, k) => n + f.faults.counts[k], 0),
    offline: { spells: t.spells, bufferedReadings: t.bufferedReadings, batches: t.batches },
    durationS: Math.round(durationS * 100) / 100,
    ratePerS: Math.round(t.sent / Math.max(durationS, 0.001)),
    ackRatePerS: Math.round(t.acked / Math.max(durationS, 0.001)),
    cpuPct: Math.round((f.cpu.user + f.cpu.system) / 1e4 / Math.max(durationS, 0.001)),
    pubackMs: f.puback.after.summary(),
    warmupS: f.warmupMs / 1000,
    pubackSamples: f.puback.after.count(),
    pubackAllMs: f.puback.all.summary(),
    loopLagMs: f.loopLagMs,
    pubackTimeline: f.puback.bySecond.map((r, s) => {
      const { p50, p99, max } = r.summary()
      return { s, n: r.count(), p50, p99, max }
    }),
    connectMs: cl,
    ledger: {
      qos,
      byVehicle,
      unacked: t.sent - t.acked,
      quarantinedAcked: f.faults.quarantinedAcked,
      vehicleIds: f.ids,
      minTsMs: Number.isFinite(t.minTs) ? t.minTs : f.startedAtMs,
      maxTsMs: Number.isFinite(t.maxTs) ? t.maxTs : Date.now(),
      startedAtMs: f.startedAtMs,
      endedAtMs: Date.now()
    }
  }
}
