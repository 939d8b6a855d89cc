// Device tokens, API keys, geofences and webhooks across machines (REDIS_URL):
// every line appended to a node's devices.jsonl, api-keys.jsonl,
// geofences.jsonl or webhooks.jsonl (by `fleetgate token|revoke|apikey` or the
// admin API, on any machine) is forwarded by the nodes that
// follow that file to a Redis Stream; every node tails the stream into its
// cache, so a revoke anywhere closes the session wherever it runs. The files
// stay the source of truth on each machine: while Redis is down, lines wait
// in a queue and go out when it returns; a node cut off reads on from the
// last stream id it applied. At start a node forwards its whole files and
// reads the whole stream: lines apply idempotently (see DeviceRegistry.apply).
import { Redis } from 'ioredis'
import { unwatchFile, watchFile } from 'node:fs'
import { appendedLines } from '../broker/appended-lines.js'
import type { Logger } from 'pino'
import { Gauge, type Registry } from 'prom-client'

export const REGISTRY_STREAM = 'fleetgate:registry'
/** Kept in the stream (approximately): a node started later reads it whole. */
const STREAM_MAXLEN = 1_000_000

export type RegistryKind = 'device' | 'apikey' | 'geofence' | 'webhook'

export interface RegistryStreamOptions {
  url: string
  node: string
  log: Logger
  /** Files whose new lines go to the stream. */
  forward: Array<{ kind: RegistryKind, file: string }>
  /** What this node applies from the stream. */
  apply: Partial<Record<RegistryKind, (line: string, origin: string) => void>>
  registry?: Registry
  /** How often the files are polled for new lines. */
  intervalMs?: number
}

export interface RegistryStream {
  /** Lines waiting for Redis. */
  queued: () => number
  /** The last stream id applied. */
  lastId: () => string
  close: () => Promise<void>
}

/** Follows an append-only file from its start: complete lines only. */
function tailFile (file: string, onLine: (line: string) => void, intervalMs: number): () => void {
  const next = appendedLines(file)
  function read (): void {
    for (const l of next().lines) if (l.trim()) onLine(l)
  }
  read()
  watchFile(file, { interval: intervalMs, persistent: false }, read)
  return () => unwatchFile(file, read)
}

export function openRegistryStream (opts: RegistryStreamOptions): RegistryStream {
  const { log } = opts
  const common = { retryStrategy: (times: number) => Math.min(times * 100, 1000), maxRetriesPerRequest: 1 }
  const writer = new Redis(opts.url, { ...common, enableOfflineQueue: false, connectionName: `fleetgate-${opts.node}-registry-w` })
  // XREAD BLOCK holds its connection: a connection of its own
  const reader = new Redis(opts.url, { ...common, enableOfflineQueue: true, connectionName: `fleetgate-${opts.node}-registry-r` })
  // errors are the bus's to log (redis-bus.ts); the loops below retry
  writer.on('error', () => {})
  reader.on('error', () => {})
  let closing = false

  const queue: Array<{ kind: RegistryKind, line: string }> = []
  let flushing = false
  async function flush (): Promise<void> {
    if (flushing) return
    flushing = true
    try {
      while (queue.length > 0 && writer.status === 'ready' && !closing) {
        const { kind, line } = queue[0] as { kind: RegistryKind, line: string }
        await writer.xadd(REGISTRY_STREAM, 'MAXLEN', '~', String(STREAM_MAXLEN), '*', 'kind', kind, 'line', line, 'node', opts.node)
        queue.shift()
      }
    } catch {
      // Redis went away: the line stays first in the queue for the next ready
    } finally {
      flushing = false
    }
  }
  writer.on('ready', () => { void flush() })
  const stops = opts.forward.map(({ kind, file }) => tailFile(file, line => { queue.push({ kind, line }); void flush() }, opts.intervalMs ?? 200))

  if (opts.registry) {
    // eslint-disable-next-line no-new
    new Gauge({ name: 'fleetgate_bus_registry_queued', help: 'Device-token and API-key lines waiting for Redis to reach the other nodes', registers: [opts.registry], collect () { this.set(queue.length) } })
  }

  let last = '0'
  const loop = (async () => {
    while (!closing) {
      try {
        const res = await reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', REGISTRY_STREAM, last) as Array<[string, Array<[string, string[]]>]> | null
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            last = id
            const f: Record<string, string> = {}
            for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string
            const apply = opts.apply[f.kind as RegistryKind]
            if (apply && f.line !== undefined) {
              try { apply(f.line, f.node ?? '') } catch (err) { log.warn({ err, id }, 'registry stream entry not applied') }
            }
          }
        }
      } catch {
        if (closing) return
        // cut off: read on from `last` once Redis is back
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    }
  })()

  return {
    queued: () => queue.length,
    lastId: () => last,
    async close () {
      closing = true
      for (const s of stops) s()
      if (queue.length > 0) log.warn({ lines: queue.length }, 'registry lines not yet on the Redis stream: they go out at the next start (the files keep them)')
      reader.disconnect()
      await loop
      if (writer.status === 'ready') await writer.quit().catch(() => { writer.disconnect() })
      else writer.disconnect()
    }
  }
}
