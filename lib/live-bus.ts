// The live stream's carriers: an api subscribes to a LiveSource, the gateway
// publishes on a LiveBus. In one process that is the in-process bus below;
// across processes the broker's `$fleet/live/batch` relay or Redis
// (gateway/src/bus/) carry the same LiveMessage (schemas/live.ts).
import { EventEmitter } from 'node:events'
import type { LiveMessage } from '../schemas/live.js'

export interface LiveSource {
  subscribe: (fn: (msg: LiveMessage) => void) => () => void
  close?: () => Promise<void>
}

export interface LiveBus extends LiveSource {
  publish: (msg: LiveMessage) => void
}

/**
 * In a turn longer than this, a batch of live messages for other processes
 * leaves once its first message is this old (ms); see lib/turn-batch.ts.
 */
export const LIVE_BATCH_MAX_MS = 5

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
