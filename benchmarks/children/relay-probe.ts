// The bare broker's counterpart of live-probe.ts: an MQTT subscriber
// of every vehicle's telemetry on Mosquitto (QoS 0, like the live feed's
// at-most-once WebSocket), in its own process. Publish-to-subscriber latency
// is now minus each reading's ts (see probe.ts): the floor that
// publish-to-live is compared with, measured beside it on the same machine.
import { LeanClient } from '../../simulator/src/lean-client.js'
import { probeChild, probeFailed } from './probe.js'

const sub = new LeanClient(1)
const probe = probeChild(() => { void sub.end() })
sub.onMessage = (_topic, payload) => {
  if (probe.measuring()) probe.received((JSON.parse(payload.toString()) as { ts: string }).ts, Date.now())
}
sub.onClose = err => { if (err) probeFailed('relay probe', err) }
try {
  await sub.connect({ url: process.env.MQTT_URL as string, clientId: `bench-relay-probe-${process.pid}` })
  sub.subscribe('fleet/+/telemetry', 0)
  // LeanClient does not wait for the SUBACK; as relay.bench.ts, the broker gets 200 ms
  await new Promise(resolve => setTimeout(resolve, 200))
  probe.ready()
} catch (err) {
  probeFailed('relay probe', err as Error)
}
