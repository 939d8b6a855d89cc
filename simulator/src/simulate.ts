// simulate(opts, { signal }) -> Report: drives N vehicles against an MQTT URL,
// counts what was sent and acknowledged, and measures PUBACK latency.
import mqtt, { type MqttClient } from 'mqtt'
import { vehicleTopic } from '../../schemas/topics.js'
import { createVehicle, step, type VehicleState } from './fleet.js'
import { LatencyRecorder } from './stats.js'

export interface SimulateOptions {
  url: string
  vehicles: number
  hz: number
  durationS: number
  qos?: 0 | 1
  seed?: number
  prefix?: string
  /** vehicleId -> device token */
  tokens: Map<string, string>
  /** Time to connect all vehicles (spread evenly). */
  connectSpreadS?: number
  /** Called about once a second while running. */
  onProgress?: (p: Progress) => void
  /** How long to wait for outstanding PUBACKs at the end. */
  drainTimeoutS?: number
}

export interface Progress { elapsedS: number, sent: number, acked: number, inflight: number, errors: number, connected: number, ratePerS: number }

export interface Report {
  vehicles: number
  connected: number
  connectFailures: number
  sent: number
  acked: number
  unacked: number
  errors: number
  durationS: number
  ratePerS: number
  ackRatePerS: number
  pubackMs: { p50: number, p90: number, p99: number, max: number }
  connectMs: { p50: number, p99: number, max: number }
  /** What each vehicle had acknowledged: first and last seq. */
  ackedByVehicle: Record<string, number>
}

export function vehicleIds (n: number, prefix = 'sim-'): string[] {
  const width = String(n - 1).length
  return Array.from({ length: n }, (_, i) => prefix + String(i).padStart(Math.max(width, 4), '0'))
}

export async function simulate (opts: SimulateOptions, { signal }: { signal?: AbortSignal } = {}): Promise<Report> {
  const qos = opts.qos ?? 1
  const ids = vehicleIds(opts.vehicles, opts.prefix)
  const latency = new LatencyRecorder()
  const connectLatency = new LatencyRecorder()
  const ackedByVehicle: Record<string, number> = {}
  let sent = 0
  let acked = 0
  let errors = 0
  let connectFailures = 0
  const clients: MqttClient[] = []
  const timers: NodeJS.Timeout[] = []
  const t0 = performance.now()
  let stopped = false
  let publishEnd = 0

  const connectSpreadMs = (opts.connectSpreadS ?? Math.min(5, opts.vehicles / 2000)) * 1000
  const periodMs = 1000 / opts.hz

  function startVehicle (id: string, index: number): Promise<void> {
    const token = opts.tokens.get(id)
    const state: VehicleState = createVehicle(id, index, opts.seed ?? 1)
    return new Promise(resolve => {
      const c0 = performance.now()
      const client = mqtt.connect(opts.url, {
        clientId: id,
        username: id,
        password: token,
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        reconnectPeriod: 1000,
        connectTimeout: 30000,
        will: { topic: vehicleTopic(id, 'status'), payload: Buffer.from('offline'), qos: 1, retain: true }
      })
      clients.push(client)
      let first = true
      client.on('connect', () => {
        if (first) {
          first = false
          connectLatency.record(performance.now() - c0)
          resolve()
          const tick = (): void => {
            if (stopped) return
            const reading = step(state, 1 / opts.hz, Date.now())
            const payload = JSON.stringify(reading)
            const sentAt = performance.now()
            sent++
            const seq = reading.seq as number
            client.publish(vehicleTopic(id, 'telemetry'), payload, { qos }, (err) => {
              if (err) { errors++; return }
              if (qos > 0) latency.record(performance.now() - sentAt)
              acked++
              ackedByVehicle[id] = Math.max(ackedByVehicle[id] ?? 0, seq)
            })
          }
          const offset = (index * periodMs / Math.max(1, opts.vehicles)) % periodMs
          timers.push(setTimeout(() => { tick(); timers.push(setInterval(tick, periodMs)) }, offset))
        }
      })
      client.on('error', () => {
        if (first) { first = false; connectFailures++; client.end(true); resolve() } else errors++
      })
    })
  }

  const progressTimer = opts.onProgress
    ? setInterval(() => {
      const elapsedS = (performance.now() - t0) / 1000
      opts.onProgress?.({ elapsedS, sent, acked, inflight: sent - acked - errors, errors, connected: clients.filter(c => c.connected).length, ratePerS: acked / Math.max(elapsedS, 0.001) })
    }, 1000)
    : null

  const starts: Promise<void>[] = []
  for (let i = 0; i < ids.length; i++) {
    if (signal?.aborted) break
    const delay = connectSpreadMs * i / ids.length
    starts.push(new Promise(resolve => { setTimeout(() => { void startVehicle(ids[i] as string, i).then(resolve) }, delay) }))
  }
  await Promise.all(starts)
  const runStart = performance.now()
  await new Promise<void>(resolve => {
    const t = setTimeout(resolve, opts.durationS * 1000)
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
  })
  stopped = true
  publishEnd = performance.now()
  for (const t of timers) { clearTimeout(t); clearInterval(t) }
  // wait for outstanding acknowledgements
  const drainUntil = performance.now() + (opts.drainTimeoutS ?? 15) * 1000
  while (qos > 0 && acked + errors < sent && performance.now() < drainUntil) await new Promise(resolve => setTimeout(resolve, 50))
  if (progressTimer) clearInterval(progressTimer)
  await Promise.all(clients.map(c => c.endAsync(false).catch(() => {})))
  const durationS = (publishEnd - runStart) / 1000
  const cl = connectLatency.summary()
  return {
    vehicles: opts.vehicles,
    connected: opts.vehicles - connectFailures,
    connectFailures,
    sent,
    acked,
    unacked: sent - acked,
    errors,
    durationS: Math.round(durationS * 100) / 100,
    ratePerS: Math.round(sent / Math.max(durationS, 0.001)),
    ackRatePerS: Math.round(acked / Math.max(durationS, 0.001)),
    pubackMs: latency.summary(),
    connectMs: { p50: cl.p50, p99: cl.p99, max: cl.max },
    ackedByVehicle
  }
}
