// MQTT topics are built and parsed only here (STYLE.md naming table).
import type { LiveMessage } from './live.js'

export const VEHICLE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/

export type TopicKind = 'telemetry' | 'events' | 'status'
/** The kinds of a vehicle's topics, which are also the kinds of a live message. */
export const KINDS: ReadonlySet<string> = new Set<TopicKind>(['telemetry', 'events', 'status'])

export interface ParsedTopic {
  vehicleId: string
  kind: TopicKind
}

export function isVehicleId (id: unknown): id is string {
  return typeof id === 'string' && VEHICLE_ID_PATTERN.test(id)
}

/** `fleet/{vehicleId}/{kind}`, or null for anything else. */
export function parseVehicleTopic (topic: string): ParsedTopic | null {
  const parts = topic.split('/')
  if (parts.length !== 3 || parts[0] !== 'fleet') return null
  const [, vehicleId, kind] = parts as [string, string, string]
  if (!isVehicleId(vehicleId) || !KINDS.has(kind)) return null
  return { vehicleId, kind: kind as TopicKind }
}

export function vehicleTopic (vehicleId: string, kind: TopicKind): string {
  return `fleet/${vehicleId}/${kind}`
}

/** The subtree a vehicle may subscribe to and publish under. */
export function vehicleSubtree (vehicleId: string): string {
  return `fleet/${vehicleId}/`
}

// The gateway republishes accepted data here for api processes that run apart
// from it; `$` topics are never matched by a vehicle's `#` wildcard [MQTT-4.7.2-1].
export const LIVE_TOPIC_FILTER = '$fleet/live/#'

/**
 * What the gateway republishes: every live message of one event-loop turn (or
 * of LIVE_BATCH_MAX_MS of a longer turn, lib/live-bus.ts) in one MQTT message, a JSON array of
 * LiveMessage (schemas/live.ts), at most LIVE_BATCH_MAX per message. One
 * publish per turn instead of one per reading keeps the broker's queue short
 * at fleet rates (10,000 readings/s).
 */
export const LIVE_BATCH_TOPIC = '$fleet/live/batch'
export const LIVE_BATCH_MAX = 1000

/** The kinds of live messages: a topic's kinds, and the alerts the gateway raises. */
export const LIVE_KINDS: ReadonlySet<string> = new Set<LiveMessage['kind']>(['telemetry', 'events', 'status', 'alert'])

/** A LIVE_BATCH_TOPIC payload (also what the Redis bus relays): the live messages in it that are well formed; anything else yields none. */
export function parseLiveBatch (text: string): LiveMessage[] {
  let batch: unknown
  try { batch = JSON.parse(text) } catch { return [] }
  if (!Array.isArray(batch)) return []
  return (batch as Array<Partial<LiveMessage>>).filter(m => LIVE_KINDS.has(m.kind as string) && isVehicleId(m.vehicleId) && Array.isArray(m.items)) as LiveMessage[]
}

/** Where the gateway parks publishes it has consumed, so the broker fans nothing out. */
export const CONSUMED_TOPIC = '$fleet/consumed'

/** Username with which an api process subscribes to the live stream (password: INTERNAL_TOKEN). */
export const INTERNAL_USERNAME = '$fleetgate-internal'
export const INTERNAL_CLIENT_PREFIX = 'fleetgate-api-'
