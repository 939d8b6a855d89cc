// Ceiling 2: a bare MQTT broker (Mosquitto, from Debian packages) relaying the
// same load from the same generator to one subscriber on fleet/+/telemetry,
// QoS 0 and QoS 1; and the simulator's own scale: 10,000 vehicles offered
// 60,000/s (6 Hz each), judged against the target of 50,000/s.
import { LeanClient } from '../simulator/src/lean-client.js'
import { runLoad, summary } from './harness/load.js'
import { watchProcess } from './harness/processes.js'

export interface RelayOptions { durationS: number, vehicles: number, rate: number, window: number, scale: boolean }

async function relayRun (url: string, o: RelayOptions, qos: 0 | 1, pid: number, { vehicles = o.vehicles, rate = o.rate, subscriber = true } = {}): Promise<Record<string, number>> {
  let received = 0
  const sub = new LeanClient(1)
  if (subscriber) {
    await sub.connect({ url, clientId: `bench-sub-${qos}-${vehicles}` })
    sub.onMessage = () => { received++ }
    sub.subscribe('fleet/+/telemetry', qos)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  const w = await watchProcess(pid, () => runLoad({ url, vehicles, rate, durationS: o.durationS, qos, window: o.window, prefix: `relay${qos}-` }))
  await new Promise(resolve => setTimeout(resolve, 500))
  await sub.end()
  const r = w.result
  return {
    targetPerS: rate,
    ...summary(r),
    ...(subscriber ? { receivedPerS: Math.round(received / r.durationS), receivedOfSent: Math.round(received / Math.max(1, r.sent) * 1000) / 1000 } : {}),
    brokerCpuPct: w.cpuPct,
    brokerRssMb: w.rssPeakMb,
    // the subscriber runs in this process too, so this is load generator + subscriber
    simulatorCpuPct: r.cpuPct,
    simulatorRssMb: Math.round(process.memoryUsage().rss / 1048576)
  }
}

export async function runRelay (m: { url: string, pid: number, version: string }, o: RelayOptions): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { mosquitto: m.version }
  out.qos0 = await relayRun(m.url, o, 0, m.pid)
  out.qos1 = await relayRun(m.url, o, 1, m.pid)
  // offered above the 50,000/s target, so the figure is what the simulator
  // reaches, not the target less the lateness of the run's own end timer
  if (o.scale) out.simulatorScale = await relayRun(m.url, o, 0, m.pid, { vehicles: 10000, rate: 60000, subscriber: false })
  return out
}
