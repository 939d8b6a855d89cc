// One MQTT payload in, rows out: accepted readings and events, and a rejection
// with its reason for everything else. Pure: no I/O, no clock of its own.
import type { Reading, VehicleEvent, RejectionReason } from '../../../schemas/types.js'
import type { TopicKind } from '../../../schemas/topics.js'
import { describeErrors, type Validators } from './validate.js'
import { toEpochMicros } from '../../../schemas/timestamps.js'
import { boundedJson } from './bounded-json.js'

export const MAX_FUTURE_MS = 5 * 60 * 1000
export const MAX_REJECTED_PAYLOAD = 4096
export const MAX_EVENT_DATA = 4096
/** Nesting levels allowed in an event's `data`. */
export const MAX_EVENT_DATA_DEPTH = 32

export interface ReadingRow { vehicleId: string, tsUs: number, receivedUs: number, reading: Reading }
export interface EventRow { vehicleId: string, tsUs: number, receivedUs: number, event: VehicleEvent, data: string | null }
export interface StatusRow { vehicleId: string, tsUs: number, online: boolean }
export interface RejectionRow { vehicleId: string, receivedUs: number, topic: string, reason: RejectionReason, detail: string, payload: string }

export interface Rows {
  readings: ReadingRow[]
  events: EventRow[]
  status: StatusRow[]
  rejections: RejectionRow[]
}

export interface Limits {
  maxPayloadBytes: number
  maxBatch: number
  retentionDays: number
}

export interface ToRows {
  (vehicleId: string, kind: TopicKind, topic: string, payload: Buffer): Rows
  reject: (vehicleId: string, topic: string, reason: RejectionReason, detail: string, payload: Buffer | string) => RejectionRow
}

export function emptyRows (): Rows {
  return { readings: [], events: [], status: [], rejections: [] }
}

function clip (payload: Buffer | string): string {
  const text = typeof payload === 'string' ? payload : payload.subarray(0, MAX_REJECTED_PAYLOAD).toString('utf8')
  return text.length > MAX_REJECTED_PAYLOAD ? text.slice(0, MAX_REJECTED_PAYLOAD) : text
}

/**
 * @param clock strictly increasing microseconds (received time; keys rejections)
 */
export function createToRows (validators: Validators, limits: Limits, clock: () => number): ToRows {
  const retentionUs = limits.retentionDays * 86400 * 1e6

  function reject (vehicleId: string, topic: string, reason: RejectionReason, detail: string, payload: Buffer | string): RejectionRow {
    return { vehicleId, receivedUs: clock(), topic, reason, detail, payload: clip(payload) }
  }

  function checkTime (tsUs: number, receivedUs: number): [RejectionReason, string] | null {
    if (Number.isNaN(tsUs)) return ['schema', '/ts is not a real instant']
    if (tsUs > receivedUs + MAX_FUTURE_MS * 1000) return ['future_ts', `/ts is more than ${MAX_FUTURE_MS / 60000} minutes ahead of the server clock`]
    if (tsUs < receivedUs - retentionUs) return ['too_old', `/ts is older than the retention window of ${limits.retentionDays} days`]
    return null
  }

  const toRows = function toRows (vehicleId: string, kind: TopicKind, topic: string, payload: Buffer): Rows {
    const rows = emptyRows()
    if (payload.length > limits.maxPayloadBytes) {
      rows.rejections.push(reject(vehicleId, topic, 'too_large', `payload of ${payload.length} bytes exceeds the limit of ${limits.maxPayloadBytes}`, payload))
      return rows
    }
    if (kind === 'status') {
      const text = payload.toString('utf8').trim()
      if (text === 'online' || text === 'offline') {
        rows.status.push({ vehicleId, tsUs: clock(), online: text === 'online' })
      } else {
        rows.rejections.push(reject(vehicleId, topic, 'schema', 'status must be "online" or "offline"', payload))
      }
      return rows
    }
    let doc: unknown
    try {
      doc = JSON.parse(payload.toString('utf8'))
    } catch (err) {
      // RangeError from absurd nesting lands here too
      rows.rejections.push(reject(vehicleId, topic, 'invalid_json', (err as Error).message.slice(0, 200), payload))
      return rows
    }
    const batch = Array.isArray(doc)
    const items: unknown[] = batch ? doc as unknown[] : [doc]
    if (items.length > limits.maxBatch) {
      rows.rejections.push(reject(vehicleId, topic, 'batch_too_large', `batch of ${items.length} items exceeds the limit of ${limits.maxBatch}`, payload))
      return rows
    }
    const receivedUs = clock()
    const validate = kind === 'telemetry' ? validators.reading : validators.event
    for (let i = 0; i < items.length; i++) {
      const item = items[i]
      const at = batch ? `[${i}]` : ''
      const quarantine = (reason: RejectionReason, detail: string): void => {
        rows.rejections.push(reject(vehicleId, topic, reason, at + detail, batch ? boundedJson(item, MAX_REJECTED_PAYLOAD).text : clip(payload)))
      }
      if (!validate(item)) {
        quarantine('schema', describeErrors(validate.errors))
        continue
      }
      const valid = item as Reading | VehicleEvent
      let data: string | null = null
      if ('type' in valid && valid.data !== undefined) {
        const json = boundedJson(valid.data, MAX_EVENT_DATA, MAX_EVENT_DATA_DEPTH)
        if (!json.complete || Buffer.byteLength(json.text) > MAX_EVENT_DATA) {
          quarantine('schema', `/data is larger than ${MAX_EVENT_DATA} bytes or nests deeper than ${MAX_EVENT_DATA_DEPTH} levels`)
          continue
        }
        data = json.text
      }
      const tsUs = toEpochMicros(valid.ts)
      const bad = checkTime(tsUs, receivedUs)
      if (bad) {
        quarantine(bad[0], bad[1])
        continue
      }
      if ('type' in valid) rows.events.push({ vehicleId, tsUs, receivedUs, event: valid, data })
      else rows.readings.push({ vehicleId, tsUs, receivedUs, reading: valid })
    }
    return rows
  } as ToRows
  toRows.reject = reject
  return toRows
}
