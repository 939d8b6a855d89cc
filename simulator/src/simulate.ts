// simulate(opts, { signal }) -> Report: drives N vehicles over a street
// network against an MQTT URL through the lean client, shapes the load, and
// counts what was sent and acknowledged. Fault injection and offline spells
// are faults.ts; the counters, latencies and the ledger of acknowledged
// readings that verify() compares with QuestDB are report.ts.
import { vehicleTopic } from '../../schemas/topics.js'
import type { Reading } from '../../schemas/types.js'
import { createVehicle, isParked, networkForSeed, step, type ModelOptions, type VehicleState } from './fleet.js'
import { createRng, type CityBox, type RoadNetwork } from './roads.js'
import { ConnectRefusedError, LeanClient, type LeanConnectOptions } from './lean-client.js'
import { LatencyRecorder } from './stats.js'
import { createFaultInjector, type FaultRates, type OfflineOptions } from './faults.js'
import { buildReport, createPubackLatency, createTally, measurePublishing, type Progress, type Publishing, type Report } from './report.js'

export { QUARANTINED, type FaultKind, type FaultRates, type OfflineOptions } from './faults.js'
export type { Ledger, Progress, Report } from './report.js'

export type LoadShape =
  | { kind: 'steady' }
  /** from fromFraction of the rate up to all of it over the run */
  | { kind: 'ramp', fromFraction?: number }
  /** factor times the rate for lengthS every everyS */
  | { kind: 'burst', everyS: number, lengthS: number, factor: number }

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
  const net = opts.network ?? networkForSeed(seed, opts.city)
  const ids = vehicleIds(opts.vehicles, opts.prefix)
  const faultRng = createRng(seed ^ 0xfa017)
  const warmupMs = Math.max(0, opts.warmupS ?? 0) * 1000
  const puback = createPubackLatency(warmupMs)
  const connectLatency = new LatencyRecorder()
  const tally = createTally()
  const maxQueued = opts.maxQueued ?? Infinity
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

  const faults = createFaultInjector<Sim>({
    rates: opts.faults ?? {},
    offline: opts.offline,
    rng: faultRng,
    qos,
    sendReading: publishReading,
    foreignTopic: s => sims.length > 1 ? (sims[(s.index + 1) % sims.length] as Sim).topic : undefined,
    onError () { tally.errors++ }
  })

  // set when all vehicles are connected and publishing starts
  let runStart = Date.now()
  let publishing = false
  let lastConnectError: Error | null = null
  const t0 = Date.now()
  // for tick(): keepalives and progress about once a second
  let lastKeepalive = Date.now()
  let lastProgress = Date.now()
  let lastAcked = 0

  // the run: connect every vehicle, publish for durationS, drain, report
  const ticker = setInterval(tick, 5)
  await connectAll()
  if (lastConnectError && tally.connectFailures === sims.length) {
    clearInterval(ticker)
    throw lastConnectError
  }
  const published = await publishFor()
  opts.onPhase?.('draining')
  await drainOutstanding()
  clearInterval(ticker)
  tick()
  const connected = connectedCount()
  await Promise.all(sims.map(s => s.client.end()))

  return buildReport({
    vehicles: opts.vehicles,
    qos,
    window,
    shape: shape.kind,
    url: opts.url,
    ids,
    sims,
    connected,
    tally,
    faults,
    puback,
    connectLatency,
    warmupMs,
    ...published,
    startedAtMs
  })

  // --- the steps, and what a vehicle does on each tick ---------------------

  function connectOpts (s: Sim, password: string | undefined): LeanConnectOptions {
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
    if (first && faults.drawWrongToken()) await faults.intrude(password => connectOpts(s, password))
    try {
      const ms = await s.client.connect(connectOpts(s, opts.tokens.get(s.id)))
      connectLatency.record(ms)
      if (!first) tally.reconnects++
      s.phase = 'online'
      s.client.onClose = err => {
        if (err && s.phase === 'online') { tally.errors++; s.phase = 'offline'; s.offlineUntil = Date.now() + 1000 }
      }
      flushBuffer(s)
    } catch (err) {
      if (first) tally.connectFailures++
      else tally.errors++
      s.phase = first ? 'done' : 'offline'
      s.offlineUntil = Date.now() + 1000
      if (first && !(err instanceof ConnectRefusedError) && tally.connectFailures <= 3) {
        // a few are worth a word on stderr of the caller; the report counts all
        lastConnectError = err as Error
      }
    }
  }

  function record (s: Sim, tsMs: number): void {
    s.acked.push(tsMs)
    if (tsMs < tally.minTs) tally.minTs = tsMs
    if (tsMs > tally.maxTs) tally.maxTs = tsMs
  }

  /** Sends readings as one payload, counts them, and records each when acknowledged. */
  function send (s: Sim, payload: string, n: number, recordAll: () => void): void {
    tally.sent += n
    const sinceStart = Date.now() - runStart
    s.client.publish(s.topic, payload, qos, (err, ms) => {
      if (err) { tally.errors++; return }
      tally.acked += n
      if (qos === 1) puback.record(sinceStart, ms)
      recordAll()
    })
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

  function flushBuffer (s: Sim): void {
    if (s.buffer.length === 0) return
    const all = s.buffer
    s.buffer = []
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      tally.batches++
      publishReadings(s, all.slice(i, i + MAX_BATCH))
    }
  }

  function intervalMs (s: Sim, now: number): number {
    const f = shapeFactor(shape, (now - runStart) / 1000, opts.durationS)
    const base = isParked(s.model) ? parkedIntervalS : 1 / opts.hz
    return f > 0 ? base * 1000 / f : Infinity
  }

  /** The vehicle's next reading: sent, buffered while it is offline, or skipped while backlogged. */
  function emit (s: Sim, now: number): void {
    if (s.phase === 'online' && maxQueued !== Infinity && s.client.backlogged(maxQueued)) { tally.skipped++; return }
    const ts = Math.max(now, s.lastTs + 1)
    const dtS = s.lastTs === 0 ? 1 / opts.hz : (ts - s.lastTs) / 1000
    s.lastTs = ts
    const reading = step(s.model, dtS, ts)
    if (s.phase !== 'online') {
      s.buffer.push(reading)
      tally.bufferedReadings++
      return
    }
    const spellMs = faults.offlineSpellMs(dtS)
    if (spellMs !== null) {
      tally.spells++
      s.phase = 'offline'
      s.offlineUntil = now + spellMs
      s.buffer.push(reading)
      tally.bufferedReadings++
      return
    }
    faults.send(s, reading, ts)
  }

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
      const count = qos === 1 ? tally.acked : tally.sent
      opts.onProgress(progress(now, (count - lastAcked) / ((now - lastProgress) / 1000)))
      lastAcked = count
      lastProgress = now
    }
  }

  function progress (now: number, ratePerS: number): Progress {
    return {
      elapsedS: (now - t0) / 1000,
      sent: tally.sent,
      acked: tally.acked,
      inflight: sims.reduce((n, s) => n + s.client.inflightCount() + s.client.queuedCount(), 0),
      errors: tally.errors,
      connected: connectedCount(),
      ratePerS
    }
  }

  function connectedCount (): number {
    return sims.reduce((n, s) => n + (s.client.connected ? 1 : 0), 0)
  }

  /** Connects every vehicle, spread over connectSpreadS (a connect storm when short). */
  async function connectAll (): Promise<void> {
    const connectSpreadMs = (opts.connectSpreadS ?? Math.min(10, opts.vehicles / 1000)) * 1000
    const connects: Promise<void>[] = []
    for (let i = 0; i < sims.length; i++) {
      if (signal?.aborted) break
      const delay = connectSpreadMs * i / sims.length - (Date.now() - t0)
      if (delay > 1) await new Promise(resolve => setTimeout(resolve, delay))
      connects.push(connect(sims[i] as Sim, true))
    }
    await Promise.all(connects)
  }

  /** Publishes for durationS (or until aborted); the run's length, CPU and own event-loop delay. */
  async function publishFor (): Promise<Publishing> {
    runStart = Date.now()
    publishing = true
    opts.onPhase?.('publishing')
    const measuring = measurePublishing()
    const warmupTimer = setTimeout(() => {
      measuring.warmedUp()
      if (!stopped) opts.onPhase?.('measuring')
    }, warmupMs)
    for (const s of sims) if (s.phase === 'online') s.nextDue = runStart + faultRng() * intervalMs(s, runStart)
    await new Promise<void>(resolve => {
      const t = setTimeout(resolve, opts.durationS * 1000)
      signal?.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
    })
    stopped = true
    clearTimeout(warmupTimer)
    return measuring.stop()
  }

  /** Offline vehicles come back and send what they buffered; the rest drains, for at most drainTimeoutS. */
  async function drainOutstanding (): Promise<void> {
    const drainUntil = Date.now() + (opts.drainTimeoutS ?? 15) * 1000
    const busy = (): boolean => sims.some(s => s.phase === 'offline' || s.phase === 'connecting' || s.client.inflightCount() + s.client.queuedCount() + s.client.unsentBytes() > 0)
    while (busy() && Date.now() < drainUntil) await new Promise(resolve => setTimeout(resolve, 20))
  }
}
