// The one load generator of every benchmark: simulate() at a target rate,
// every vehicle reporting at the same rate (moving or parked), closed loop
// (a vehicle whose window is full skips its slot, counted as skipped), so a
// ceiling shows as the achieved rate rather than as an unbounded queue.
import { simulate, vehicleIds, type Report } from '../../simulator/src/simulate.js'
import { obtainTokens } from '../../simulator/src/tokens.js'

export interface LoadOptions {
  url: string
  dataDir?: string
  vehicles: number
  rate: number
  durationS: number
  qos: 0 | 1
  window: number
  prefix: string
  connectSpreadS?: number
  seed?: number
  /** Left out of the PUBACK percentiles, part of durationS (simulate's warmupS). */
  warmupS?: number
  onPhase?: (phase: 'publishing' | 'measuring' | 'draining') => void
}

export async function runLoad (o: LoadOptions): Promise<Report> {
  const ids = vehicleIds(o.vehicles, o.prefix)
  // Mosquitto takes any password; the gateway checks tokens issued into its DATA_DIR
  const tokens = o.dataDir ? obtainTokens(o.dataDir, ids) : new Map(ids.map(id => [id, 'none']))
  const hz = o.rate / o.vehicles
  return await simulate({
    url: o.url,
    vehicles: o.vehicles,
    tokens,
    hz,
    parkedIntervalS: 1 / hz,
    durationS: o.durationS,
    qos: o.qos,
    window: o.window,
    maxQueued: o.window,
    prefix: o.prefix,
    seed: o.seed ?? 1,
    connectSpreadS: o.connectSpreadS ?? Math.min(10, o.vehicles / 1000),
    drainTimeoutS: 30,
    warmupS: o.warmupS ?? 0,
    ...(o.onPhase ? { onPhase: o.onPhase } : {})
  })
}

export function summary (r: Report): Record<string, number> {
  return {
    vehicles: r.vehicles,
    connected: r.connected,
    sentPerS: r.ratePerS,
    ackedPerS: r.ackRatePerS,
    sent: r.sent,
    acked: r.acked,
    unacked: r.unacked,
    errors: r.errors,
    skipped: r.skipped,
    pubackP50Ms: r.pubackMs.p50,
    pubackP99Ms: r.pubackMs.p99,
    connectP99Ms: r.connectMs.p99
  }
}
