// Accepted data also goes out on $fleet/live/batch for api processes apart
// from us: one publish per event-loop turn, not one per reading, so the
// broker's queue stays short at fleet rates (one publish per reading built a
// backlog of seconds and, draining, overflowed mqemitter's stack;
// `npm run bench:live` measures the path through it to an api process).
// Nothing is built while no internal client (an api process) is connected.
import type { Aedes } from 'aedes'
import { LIVE_BATCH_MAX, LIVE_BATCH_TOPIC } from '../../../schemas/topics.js'
import { LIVE_BATCH_MAX_MS, type LiveBus } from '../../../lib/live-bus.js'
import type { LiveMessage } from '../../../schemas/live.js'
import { turnBatch } from '../../../lib/turn-batch.js'
import { roleOf } from './auth.js'

/** Relays the live bus to internal clients; returns the relay's stop. */
export function relayLive (aedes: Aedes, live: LiveBus): () => void {
  let internalClients = 0
  aedes.on('clientDisconnect', client => {
    if (roleOf(client) === 'internal') internalClients = Math.max(0, internalClients - 1)
  })
  aedes.on('clientReady', client => {
    if (roleOf(client) === 'internal') internalClients++
  })

  let liveBatch: LiveMessage[] = []
  function flushLive (): void {
    const batch = liveBatch
    liveBatch = []
    if (internalClients === 0) return
    for (let i = 0; i < batch.length; i += LIVE_BATCH_MAX) {
      const payload = Buffer.from(JSON.stringify(batch.slice(i, i + LIVE_BATCH_MAX)))
      aedes.publish({ cmd: 'publish', topic: LIVE_BATCH_TOPIC, payload, qos: 0, retain: false, dup: false }, () => {})
    }
  }
  const liveTurn = turnBatch(flushLive, LIVE_BATCH_MAX_MS)
  return live.subscribe(msg => {
    if (internalClients === 0) return
    liveBatch.push(msg)
    // at the end of the turn, or once the first message is LIVE_BATCH_MAX_MS old
    if (liveBatch.length === 1) liveTurn.opened()
    else liveTurn.cutIfOld()
  })
}
