// The live stream between the gateway and the api: what the gateway passes on
// for every accepted reading, event and status change. In one process it
// travels on an in-process bus; between processes as MQTT messages on
// `$fleet/live/batch` (see topics.ts), JSON arrays of LiveMessage, one per
// event-loop turn of the gateway.
import { EventEmitter } from 'node:events'
import type { Alert, Reading, VehicleEvent } from './types.js'

/** A reading as the live feed and the history API present it. */
export type Position = Omit<Reading, 'ts'> & { vehicle_id: string, ts: string }
export type LiveEvent = Omit<VehicleEvent, 'ts'> & { vehicle_id: string, ts: string }
export interface LiveStatus { vehicle_id: string, ts: string, online: boolean }

export type LiveMessage =
  | { kind: 'telemetry', vehicleId: string, items: Position[] }
  | { kind: 'events', vehicleId: string, items: LiveEvent[] }
  | { kind: 'status', vehicleId: string, items: LiveStatus[] }
  | { kind: 'alert', vehicleId: string, items: Alert[] }

export interface LiveSource {
  subscribe: (fn: (msg: LiveMessage) => void) => () => void
  close?: () => Promise<void>
}

export interface LiveBus extends LiveSource {
  publish: (msg: LiveMessage) => void
}

export function createLocalLiveBus (): LiveBus {
  const ee = new EventEmitter()
  ee.setMaxListeners(0)
  return {
    publish: msg => { ee.emit('msg', msg) },
    subscribe (fn) {
      ee.on('msg', fn)
      return () => { ee.off('msg', fn) }
    }
  }
}
