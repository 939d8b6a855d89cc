// A consumed publish (a reading, an event, a foreign topic) is delivered to no
// one. Aedes has no hook that acknowledges a PUBLISH and drops it: after
// authorizePublish calls back and the PUBACK is written, its handler hands the
// packet to broker.publish(packet, client, done) (aedes v1.2.0
// lib/handlers/publish.js, `case 1` and `case 0` of enqueuePublish), which wraps
// it in a Packet of its own, looks up retained and offline subscriptions and
// runs it through the emitter, for nothing. Asked for (moscajs/aedes#210),
// the maintainer's answer was that MQTT 3.1.1 has no such thing, and an empty
// topic set in the authorizer is not safe (moscajs/aedes#199). So the broker's
// own publish() passes over a packet whose topic authorizePublish set to
// CONSUMED_TOPIC; `npm run bench -- profile` shows what the emitter costs.
import type { Aedes, Client, PublishPacket } from 'aedes'
import { CONSUMED_TOPIC } from '../../../schemas/topics.js'

// Aedes calls it as publish(packet, client, done); its types know (packet, done)
type Publish = (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) => void

/** Makes `aedes.publish` call back at once, and deliver nothing, for a packet on CONSUMED_TOPIC. */
export function skipConsumedPublishes (aedes: Aedes): void {
  const publish = (aedes.publish as unknown as Publish).bind(aedes)
  const publishUnlessConsumed: Publish = (packet, client, done) => {
    if (packet.topic !== CONSUMED_TOPIC) return publish(packet, client, done)
    const cb = typeof client === 'function' ? client : done
    cb?.()
  }
  ;(aedes as unknown as { publish: Publish }).publish = publishUnlessConsumed
}
