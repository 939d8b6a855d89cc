// The child side of a latency probe process (live-probe.ts,
// relay-probe.ts): told by IPC when to measure, it records
// now minus each received reading's ts while measuring and answers `stop`
// with the percentiles. A probe inside the load generator's process would add
// that busy process's own event-loop lag to every sample.
import { LatencyRecorder } from '../../simulator/src/stats.js'

export interface ProbeChild {
  /** Records now minus ts (an ISO time) if the probe is measuring. */
  received: (ts: string, now: number) => void
  measuring: () => boolean
  /** Subscribed and receiving: the parent's startProbe() resolves. */
  ready: () => void
}

export function probeChild (close: () => void): ProbeChild {
  const latency = new LatencyRecorder()
  let measuring = false
  process.on('message', (m: { type: string }) => {
    if (m.type === 'start') measuring = true
    if (m.type === 'stop') {
      measuring = false
      process.send?.({ type: 'summary', ...latency.summary(), count: latency.count() }, () => { close(); process.exit(0) })
    }
  })
  return {
    received (ts, now) { if (measuring) latency.record(now - Date.parse(ts)) },
    measuring: () => measuring,
    ready: () => process.send?.({ type: 'ready' })
  }
}

/** Ends the probe on an error it cannot measure through. */
export function probeFailed (what: string, err: Error): never {
  process.stderr.write(`${what}: ${err.message}\n`)
  process.exit(1)
}
