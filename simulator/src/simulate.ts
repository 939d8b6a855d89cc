// simulate(opts, { signal }) -> Report: drives N vehicles over a street
// network against an MQTT URL through the lean client, injects faults and
// offline spells on request, shapes the load, counts what was sent and
// acknowledged, measures PUBACK and connect latency, and keeps the ledger of
// acknowledged readings that verify() compares with QuestDB.
import { vehicleTopic } from '../../schemas/topics.js'
import type { Reading } from '../../schemas/types.js'
import { createVehicle, isParked, networkForSeed, step, type ModelOptions, type VehicleState } from './fleet.js'
import { createRng, type CityBox, type RoadNetwork } from './roads.js'
import { ConnectRefusedError, LeanClient } from './lean-client.js'
import { LatencyRecorder } from './stats.js'
import { monitorEventLoopDelay } from 'node:perf_hooks'

export type LoadShape =
  | { kind: 'steady' }
  /** from fromFraction of the rate up to all of it over the run */
  | { kind: 'ramp', fromFraction?: number }
  /** factor times the rate for lengthS every everyS */
  | { kind: 'burst', everyS: number, lengthS: number, factor: number }

/** Each a probability per reading (wrongToken: per vehicle, one refused attempt before its real connect). */
export interface FaultRates {
  malformed?: number
  schema?: number
  duplicate?: number
  future?: number
  foreignTopic?: number
  wrongToken?: number
}

export interface OfflineOptions {
  /** Spells per vehicle-hour. */
  perHour: number
  minS: number
  maxS: number
}

export interface SimulateOptions {
  url: string
  vehicles: number
  /** vehicleId -> device token */
  tokens: Map<string, string>
  /** Readings per second per vehicle while it moves. */
  hz: number
  /** Seconds between readings while parked (default 30). */
  parkedIntervalS?: number
  durationS: number
  qos?: 0 | 1
  /** QoS 1 messages in flight per vehicle (default 1). */
  window?: number
  seed?: number
  prefix?: string
  shape?: LoadShape
  /** All vehicles connect within this many seconds (a connect storm when short). */
  connectSpreadS?: number
  city?: CityBox
  network?: RoadNetwork
  model?: ModelOptions
  faults?: FaultRates
  offline?: OfflineOptions
  /** TLS: accept a self-signed certificate. */
  rejectUnauthorized?: boolean
  keepaliveS?: number
  /**
   * Closed loop for benchmarks: a vehicle whose client is backlogged (this
   * many QoS 1 messages queued beyond the window, or its socket full) skips
   * its slot; the reading is counted as skipped, never sent. Default: never.
   */
  maxQueued?: number
  /**
   * The first seconds of publishing (part of durationS) whose PUBACK latency
   * is left out of pubackMs: connecting 1,000 vehicles and starting them all
   * at once, against a gateway whose code is not yet optimised, builds a queue
   * that takes seconds to drain (pubackTimeline shows it). Counts, rates and
   * the ledger still cover the whole run. Default 0.
   */
  warmupS?: number
  /**
   * Called when all vehicles are connected and publishing starts, when the
   * warm-up is over and latency counts ('measuring'; without a warm-up, in
   * the next turn after 'publishing'), and when publishing stops.
   */
  onPhase?: (phase: 'publishing' | 'measuring' | 'draining') => void
  /** Called about once a second while running. */
  onProgress?: (p: Progress) => void
  /** How long to wait for outstanding PUBACKs (and offline vehicles to come back) at the end. */
  drainTimeoutS?: number
}

export interface Progress { elapsedS: number, sent: number, acked: number, inflight: number, errors: number, connected: number, ratePerS: number }

export type FaultKind = 'invalid_json' | 'schema' | 'future_ts' | 'id_mismatch' | 'duplicate' | 'wrong_token'
/** The faults the gateway must quarantine, with the reason it records. */
export const QUARANTINED: ReadonlyArray<Exclude<FaultKind, 'duplicate' | 'wrong_token'>> = ['invalid_json', 'schema', 'future_ts', 'id_mismatch']

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

const LAG_RESOLUTION_MS = 10

export function vehicleIds (n: number, prefix = 'sim-'): string[] {
  const width = String(n - 1).length
  return Array.from({ length: n }, (_, i) => prefix + String(i).padStart(Math.max(width, 4), '0'))
}

/** The share of the configured rate at time t of a run of durationS. */
export function shapeFactor (shape: LoadShape, tS: number, durationS: number): number {
  switch (shape.kind) {
    case 'steady': return 1
    case 'ramp': {
      const from = shape.fromFraction ?? 0.1
      return from + (1 - from) * Math.min(1, Math.max(0, tS / durationS))
    }
    case 'burst': return (tS % shape.everyS) < shape.lengthS ? shape.factor : 1
  }
}

type Phase = 'idle' | 'connecting' | 'online' | 'offline' | 'done'

interface Sim {
  index: number
  id: string
  topic: string
  model: VehicleState
  client: LeanClient
  phase: Phase
  nextDue: number
  lastTs: number
  offlineUntil: number
  buffer: Reading[]
  acked: number[]
}

const MAX_BATCH = 1000

export async function simulate (opts: SimulateOptions, { signal }: { signal?: AbortSignal } = {}): Promise<Report> {
  const qos = opts.qos ?? 1
  const window = Math.max(1, opts.window ?? 1)
  const seed = opts.seed ?? 1
  const shape = opts.shape ?? { kind: 'steady' }
  const parkedIntervalS = opts.parkedIntervalS ?? 30
  const keepaliveS = opts.keepaliveS ?? 60
  const faults = opts.faults ?? {}
  const net = opts.network ?? networkForSeed(seed, opts.city)
  const ids = vehicleIds(opts.vehicles, opts.prefix)
  const faultRng = createRng(seed ^ 0xfa017)
  const latency = new LatencyRecorder()
  const warmupMs = Math.max(0, opts.warmupS ?? 0) * 1000
  const bySecond: LatencyRecorder[] = []
  const latencyAll = warmupMs > 0 ? new LatencyRecorder() : latency
  const connectLatency = new LatencyRecorder()
  const faultCount: Record<FaultKind, number> = { invalid_json: 0, schema: 0, future_ts: 0, id_mismatch: 0, duplicate: 0, wrong_token: 0 }
  const quarantinedAcked: Record<string, number> = { invalid_json: 0, schema: 0, future_ts: 0, id_mismatch: 0 }
  let sent = 0
  let acked = 0
  let errors = 0
  let skipped = 0
  const maxQueued = opts.maxQueued ?? Infinity
  let connectFailures = 0
  let reconnects = 0
  let wrongTokenRefused = 0
  let spells = 0
  let bufferedReadings = 0
  let batches = 0
  let minTs = Infinity
  let maxTs = -Infinity
  let stopped = false
  const startedAtMs = Date.now()

  const sims: Sim[] = ids.map((id, index) => ({
    index,
    id,
    topic: vehicleTopic(id, 'telemetry'),
    model: createVehicle(id, index, seed, net, opts.model),
    client: new LeanClient(window),
    phase: 'idle',
    nextDue: 0,
    lastTs: 0,
    offlineUntil: 0,
    buffer: [],
    acked: []
  }))

  function connectOpts (s: Sim, password: string | undefined): Parameters<LeanClient['connect']>[0] {
    return {
      url: opts.url,
      clientId: s.id,
      username: s.id,
      ...(password !== undefined ? { password } : {}),
      keepaliveS,
      will: { topic: vehicleTopic(s.id, 'status'), payload: 'offline', qos: 1, retain: true },
      rejectUnauthorized: opts.rejectUnauthorized ?? true
    }
  }

  async function connect (s: Sim, first: boolean): Promise<void> {
    s.phase = 'connecting'
    if (first && (faults.wrongToken ?? 0) > 0 && faultRng() < (faults.wrongToken ?? 0)) {
      faultCount.wrong_token++
      const intruder = new LeanClient(1)
      try {
        await intruder.connect(connectOpts(s, 'fgt_' + 'x'.repeat(43)))
        await intruder.end()
      } catch (err) {
        if (err instanceof ConnectRefusedError) wrongTokenRefused++
      }
    }
    try {
      const ms = await s.client.connect(connectOpts(s, opts.tokens.get(s.id)))
      connectLatency.record(ms)
      if (!first) reconnects++
      s.phase = 'online'
      s.client.onClose = err => {
        if (err && s.phase === 'online') { errors++; s.phase = 'offline'; s.offlineUntil = Date.now() + 1000 }
      }
      flushBuffer(s)
    } catch (err) {
      if (first) connectFailures++
      else errors++
      s.phase = first ? 'done' : 'offline'
      s.offlineUntil = Date.now() + 1000
      if (first && !(err instanceof ConnectRefusedError) && connectFailures <= 3) {
        // a few are worth a word on stderr of the caller; the report counts all
        lastConnectError = err as Error
      }
    }
  }
  let lastConnectError: Error | null = null

  function record (s: Sim, tsMs: number): void {
    s.acked.push(tsMs)
    if (tsMs < minTs) minTs = tsMs
    if (tsMs > maxTs) maxTs = tsMs
  }

  /** Sends readings as one payload, counts them, and records each when acknowledged. */
  function send (s: Sim, payload: string, n: number, recordAll: () => void): void {
    sent += n
    const sinceStart = Date.now() - runStart
    s.client.publish(s.topic, payload, qos, (err, ms) => {
      if (err) { errors++; return }
      acked += n
      if (qos === 1) recordLatency(sinceStart, ms)
      recordAll()
    })
  }

  function recordLatency (sinceStartMs: number, ms: number): void {
    if (sinceStartMs >= warmupMs) latency.record(ms)
    if (latencyAll !== latency) latencyAll.record(ms)
    const sec = Math.max(0, Math.floor(sinceStartMs / 1000))
    while (bySecond.length <= sec) bySecond.push(new LatencyRecorder(5000))
    ;(bySecond[sec] as LatencyRecorder).record(ms)
  }

  /** One reading, as almost all are sent: its ts recorded as given, not parsed back from the ISO string. */
  function publishReading (s: Sim, reading: Reading, tsMs: number): void {
    send(s, JSON.stringify(reading), 1, () => record(s, tsMs))
  }

  /** A batch of buffered readings (after an offline spell), as one JSON array. */
  function publishReadings (s: Sim, readings: Reading[]): void {
    const payload = readings.length === 1 ? JSON.stringify(readings[0]) : JSON.stringify(readings)
    send(s, payload, readings.length, () => { for (const r of readings) record(s, Date.parse(r.ts as string)) })
  }

  function publishFault (s: Sim, kind: Exclude<FaultKind, 'duplicate' | 'wrong_token'>, topic: string, payload: string): void {
    faultCount[kind]++
    s.client.publish(topic, payload, qos, err => {
      if (err) { errors++; return }
      quarantinedAcked[kind] = (quarantinedAcked[kind] ?? 0) + 1
    })
  }

  function flushBuffer (s: Sim): void {
    if (s.buffer.length === 0) return
    const all = s.buffer
    s.buffer = []
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      batches++
      publishReadings(s, all.slice(i, i + MAX_BATCH))
    }
  }

  function intervalMs (s: Sim, now: number): number {
    const f = shapeFactor(shape, (now - runStart) / 1000, opts.durationS)
    const base = isParked(s.model) ? parkedIntervalS : 1 / opts.hz
    return f > 0 ? base * 1000 / f : Infinity
  }

  function emit (s: Sim, now: number): void {
    if (s.phase === 'online' && maxQueued !== Infinity && s.client.backlogged(maxQueued)) { skipped++; return }
    const ts = Math.max(now, s.lastTs + 1)
    const dtS = s.lastTs === 0 ? 1 / opts.hz : (ts - s.lastTs) / 1000
    s.lastTs = ts
    const reading = step(s.model, dtS, ts)
    if (s.phase !== 'online') {
      s.buffer.push(reading)
      bufferedReadings++
      return
    }
    // an offline spell starts now and then
    const o = opts.offline
    if (o && o.perHour > 0 && faultRng() < o.perHour * dtS / 3600) {
      spells++
      s.phase = 'offline'
      s.offlineUntil = now + (o.minS + faultRng() * (o.maxS - o.minS)) * 1000
      s.buffer.push(reading)
      bufferedReadings++
      return
    }
    // one draw picks at most one fault: r falls below 0 in the rate's share of [0, 1)
    // (no closure here: one per reading showed in the profile)
    let r = faultRng()
    if ((r -= faults.malformed ?? 0) < 0) {
      publishFault(s, 'invalid_json', s.topic, JSON.stringify(reading).slice(0, -9))
    } else if ((r -= faults.schema ?? 0) < 0) {
      publishFault(s, 'schema', s.topic, JSON.stringify({ ...reading, lat: 95.5 }))
    } else if ((r -= faults.future ?? 0) < 0) {
      publishFault(s, 'future_ts', s.topic, JSON.stringify({ ...reading, ts: new Date(ts + 3600e3).toISOString() }))
    } else if ((r -= faults.foreignTopic ?? 0) < 0 && sims.length > 1) {
      const other = sims[(s.index + 1) % sims.length] as Sim
      publishFault(s, 'id_mismatch', other.topic, JSON.stringify(reading))
    } else {
      publishReading(s, reading, ts)
      if ((r -= faults.duplicate ?? 0) < 0) {
        faultCount.duplicate++
        s.client.publish(s.topic, JSON.stringify(reading), qos, err => { if (err) errors++ })
      }
    }
  }

  // set when all vehicles are connected and publishing starts
  let runStart = Date.now()
  let publishing = false
  const t0 = Date.now()
  const connectSpreadMs = (opts.connectSpreadS ?? Math.min(10, opts.vehicles / 1000)) * 1000
  const connects: Promise<void>[] = []
  let lastKeepalive = Date.now()
  let lastProgress = Date.now()
  let lastAcked = 0

  function tick (): void {
    const now = Date.now()
    for (const s of sims) {
      if (s.phase === 'online' || s.phase === 'offline') {
        if (publishing && !stopped && now >= s.nextDue) {
          emit(s, now)
          const iv = intervalMs(s, now)
          s.nextDue = s.nextDue + iv < now - 1000 ? now + iv : s.nextDue + iv
        }
        if (s.phase === 'offline') {
          if (s.client.connected && s.client.inflightCount() === 0 && s.client.queuedCount() === 0) void s.client.end()
          else if (!s.client.connected && (now >= s.offlineUntil || stopped)) void connect(s, false)
        }
      }
    }
    if (now - lastKeepalive > 5000) {
      lastKeepalive = now
      for (const s of sims) s.client.keepalive(keepaliveS)
    }
    if (opts.onProgress && now - lastProgress >= 1000) {
      const count = qos === 1 ? acked : sent
      opts.onProgress({
        elapsedS: (now - t0) / 1000,
        sent,
        acked,
        inflight: sims.reduce((n, s) => n + s.client.inflightCount() + s.client.queuedCount(), 0),
        errors,
        connected: sims.reduce((n, s) => n + (s.client.connected ? 1 : 0), 0),
        ratePerS: (count - lastAcked) / ((now - lastProgress) / 1000)
      })
      lastAcked = count
      lastProgress = now
    }
  }
  const ticker = setInterval(tick, 5)

  for (let i = 0; i < sims.length; i++) {
    if (signal?.aborted) break
    const delay = connectSpreadMs * i / sims.length - (Date.now() - t0)
    if (delay > 1) await new Promise(resolve => setTimeout(resolve, delay))
    connects.push(connect(sims[i] as Sim, true))
  }
  await Promise.all(connects)
  if (lastConnectError && connectFailures === sims.length) {
    clearInterval(ticker)
    throw lastConnectError
  }
  runStart = Date.now()
  publishing = true
  opts.onPhase?.('publishing')
  // sampled every LAG_RESOLUTION_MS; a sample is that interval plus the delay
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  lag.enable()
  const warmupTimer = setTimeout(() => {
    lag.reset()
    if (!stopped) opts.onPhase?.('measuring')
  }, warmupMs)
  const publishStart = performance.now()
  const cpu0 = process.cpuUsage()
  for (const s of sims) if (s.phase === 'online') s.nextDue = runStart + faultRng() * intervalMs(s, runStart)
  await new Promise<void>(resolve => {
    const t = setTimeout(resolve, opts.durationS * 1000)
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
  })
  stopped = true
  clearTimeout(warmupTimer)
  const publishEnd = performance.now()
  const cpu = process.cpuUsage(cpu0)
  lag.disable()
  const lagMs = (ns: number): number => lag.count === 0 ? 0 : Math.round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100
  opts.onPhase?.('draining')
  // offline vehicles come back and send what they buffered; the rest drains
  const drainUntil = Date.now() + (opts.drainTimeoutS ?? 15) * 1000
  const busy = (): boolean => sims.some(s => s.phase === 'offline' || s.phase === 'connecting' || s.client.inflightCount() + s.client.queuedCount() + s.client.unsentBytes() > 0)
  while (busy() && Date.now() < drainUntil) await new Promise(resolve => setTimeout(resolve, 20))
  clearInterval(ticker)
  tick()
  const peakConnected = sims.reduce((n, s) => n + (s.client.connected ? 1 : 0), 0)
  await Promise.all(sims.map(s => s.client.end()))

  const durationS = (publishEnd - publishStart) / 1000
  const byVehicle = new Map<string, number[]>()
  for (const s of sims) byVehicle.set(s.id, [...new Set(s.acked)])
  const cl = connectLatency.summary()
  return {
    vehicles: opts.vehicles,
    connected: peakConnected,
    connectFailures,
    reconnects,
    qos,
    window,
    shape: shape.kind,
    transport: new URL(opts.url).protocol.replace(':', ''),
    sent,
    acked,
    unacked: sent - acked,
    errors,
    skipped,
    faults: faultCount,
    wrongTokenRefused,
    rejectedOnPurpose: QUARANTINED.reduce((n, k) => n + faultCount[k], 0),
    offline: { spells, bufferedReadings, batches },
    durationS: Math.round(durationS * 100) / 100,
    ratePerS: Math.round(sent / Math.max(durationS, 0.001)),
    ackRatePerS: Math.round(acked / Math.max(durationS, 0.001)),
    cpuPct: Math.round((cpu.user + cpu.system) / 1e4 / Math.max(durationS, 0.001)),
    pubackMs: latency.summary(),
    warmupS: warmupMs / 1000,
    pubackSamples: latency.count(),
    pubackAllMs: latencyAll.summary(),
    loopLagMs: { p50: lagMs(lag.percentile(50)), p99: lagMs(lag.percentile(99)), max: lagMs(lag.max) },
    pubackTimeline: bySecond.map((r, s) => {
      const { p50, p99, max } = r.summary()
      return { s, n: r.count(), p50, p99, max }
    }),
    connectMs: cl,
    ledger: {
      qos,
      byVehicle,
      unacked: sent - acked,
      quarantinedAcked,
      vehicleIds: ids,
      minTsMs: Number.isFinite(minTs) ? minTs : startedAtMs,
      maxTsMs: Number.isFinite(maxTs) ? maxTs : Date.now(),
      startedAtMs,
      endedAtMs: Date.now()
    }
  }
}
