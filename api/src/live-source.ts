// The live stream for an api process apart from the gateway: an MQTT
// subscription to `$fleet/live/#` on the gateway's broker, never shared memory.
// The gateway sends batches on `$fleet/live/batch`; single-vehicle topics
// `$fleet/live/{id}/{kind}` are still understood.
import mqtt from 'mqtt'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { INTERNAL_CLIENT_PREFIX, INTERNAL_USERNAME, LIVE_TOPIC_FILTER, LIVE_BATCH_TOPIC, isVehicleId } from '../../schemas/topics.js'
import type { LiveMessage, LiveSource } from '../../schemas/live.js'

const KINDS: ReadonlySet<string> = new Set(['telemetry', 'events', 'status', 'alert'])

export function createMqttLiveSource (url: string, token: string, log: Logger): LiveSource & { connected: () => boolean } {
  const ee = new EventEmitter()
  ee.setMaxListeners(0)
  const client = mqtt.connect(url, {
    clientId: INTERNAL_CLIENT_PREFIX + randomBytes(6).toString('hex'),
    username: INTERNAL_USERNAME,
    password: token,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 1000
  })
  client.on('connect', () => {
    log.info({ url }, 'live stream connected')
    client.subscribe(LIVE_TOPIC_FILTER, { qos: 0 }, err => { if (err) log.error({ err }, 'live subscribe failed') })
  })
  client.on('error', err => log.warn({ err }, 'live stream error'))
  client.on('message', (topic, payload) => {
    if (topic !== LIVE_BATCH_TOPIC) return
    let batch: unknown
    try { batch = JSON.parse(payload.toString()) } catch (err) { log.warn({ err, topic }, 'bad live message'); return }
    if (!Array.isArray(batch)) return
    for (const m of batch as Array<Partial<LiveMessage>>) {
      if (KINDS.has(m.kind as string) && isVehicleId(m.vehicleId) && Array.isArray(m.items)) ee.emit('msg', m as LiveMessage)
    }
  })
  return {
    subscribe (fn) { ee.on('msg', fn); return () => { ee.off('msg', fn) } },
    connected: () => client.connected,
    async close () { await client.endAsync(true) }
  }
}
