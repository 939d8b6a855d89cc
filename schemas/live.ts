// The live stream between the gateway and the api: what the gateway passes on
// for every accepted reading, event and status change. In one process it
// travels on an in-process bus (lib/live-bus.ts); between processes as MQTT
// messages on `$fleet/live/batch` (see topics.ts), JSON arrays of LiveMessage,
// one per event-loop turn of the gateway.
import type { Alert, LiveStatusMessage, Position, StoredEvent } from './types.js'

/** A reading as the live feed and the history API present it (api/position.schema.json). */
export type { Position }
/** An event as the live feed and the history API present it (api/event.schema.json). */
export type LiveEvent = StoredEvent
/** A session change as the live feed presents it (api/live-status.schema.json). */
export type LiveStatus = LiveStatusMessage['status']

export type LiveMessage =
  | { kind: 'telemetry', vehicleId: string, items: Position[] }
  | { kind: 'events', vehicleId: string, items: LiveEvent[] }
  | { kind: 'status', vehicleId: string, items: LiveStatus[] }
  | { kind: 'alert', vehicleId: string, items: Alert[] }
