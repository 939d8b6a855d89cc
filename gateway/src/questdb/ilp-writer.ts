// The one ILP writer. Chunks of ILP lines go in; they are concatenated into
// batches and POSTed to QuestDB's /write one request at a time (two flushes in
// flight have lost data: nodejs-questdb-client#44). A batch stays in our hands
// until QuestDB answers 2xx: on failure the same bytes are sent again, with
// backoff, so nothing is dropped because a request failed.
import { createTransport, SenderOptions, type SenderTransport } from '@questdb/nodejs-client'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'

export interface IlpWriterOptions {
  httpUrl: string
  log: Logger
  flushIntervalMs: number
  maxBatchBytes: number
  /** Called after every request, for metrics. */
  onFlush?: (info: { ok: boolean, bytes: number, ms: number }) => void
}

interface Pending { chunk: Buffer, done: (err?: Error) => void }

export interface IlpWriter extends EventEmitter {
  /** Resolves once QuestDB answered 2xx for the batch holding these lines. */
  write: (chunk: Buffer) => Promise<void>
  /** Bytes accepted but not yet confirmed. */
  pendingBytes: () => number
  /** Stops after what is queued is confirmed, or rejects what is left after timeoutMs. */
  close: (timeoutMs?: number) => Promise<void>
}

export class IlpRejectedError extends Error {
  code = 'GW_ERR_ILP_REJECTED'
}

export function transportFor (httpUrl: string): SenderTransport {
  const u = new URL(httpUrl)
  const proto = u.protocol === 'https:' ? 'https' : 'http'
  // retry_timeout bounds one attempt here (the client aborts the request after
  // it); our own loop does the retrying, keeping the bytes.
  return createTransport(new SenderOptions(`${proto}::addr=${u.hostname}:${u.port || (proto === 'https' ? 443 : 80)};protocol_version=1;retry_timeout=30000;request_timeout=30000;request_min_throughput=1048576`))
}

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 5000

export function createIlpWriter (opts: IlpWriterOptions): IlpWriter {
  const { log } = opts
  const transport = transportFor(opts.httpUrl)
  const emitter = new EventEmitter() as IlpWriter
  let queue: Pending[] = []
  let queuedBytes = 0
  let inflightBytes = 0
  let timer: NodeJS.Timeout | null = null
  let running = false
  let closing = false
  let closed = false
  let wake: (() => void) | null = null

  function kick (): void {
    if (wake) { const w = wake; wake = null; w() }
  }

  emitter.write = (chunk: Buffer): Promise<void> => {
    if (closed) return Promise.reject(new Error('ilp writer closed'))
    return new Promise((resolve, reject) => {
      queue.push({ chunk, done: err => err ? reject(err) : resolve() })
      queuedBytes += chunk.length
      if (queuedBytes >= opts.maxBatchBytes) kick()
      else if (!timer) timer = setTimeout(() => { timer = null; kick() }, opts.flushIntervalMs)
      if (!running) void loop()
    })
  }

  emitter.pendingBytes = () => queuedBytes + inflightBytes

  function take (): Pending[] {
    let bytes = 0
    let n = 0
    while (n < queue.length) {
      const len = (queue[n] as Pending).chunk.length
      if (n > 0 && bytes + len > opts.maxBatchBytes) break
      bytes += len
      n++
    }
    const batch = queue.slice(0, n)
    queue = queue.slice(n)
    queuedBytes -= bytes
    inflightBytes = bytes
    return batch
  }

  async function send (body: Buffer): Promise<void> {
    const t0 = performance.now()
    try {
      await transport.send(body)
      opts.onFlush?.({ ok: true, bytes: body.length, ms: performance.now() - t0 })
    } catch (err) {
      opts.onFlush?.({ ok: false, bytes: body.length, ms: performance.now() - t0 })
      throw err
    }
  }

  function isBadRequest (err: unknown): boolean {
    return /statusCode=4\d\d/.test(String((err as Error)?.message))
  }

  // A 4xx means QuestDB refuses these lines whatever we do: bisect to find the
  // chunk at fault, write the rest, and fail only that chunk.
  async function sendIsolating (batch: Pending[]): Promise<void> {
    try {
      await send(Buffer.concat(batch.map(p => p.chunk)))
      for (const p of batch) p.done()
    } catch (err) {
      if (!isBadRequest(err)) throw err
      if (batch.length === 1) {
        log.error({ err, bytes: (batch[0] as Pending).chunk.length }, 'questdb refused ilp lines')
        ;(batch[0] as Pending).done(new IlpRejectedError((err as Error).message))
        return
      }
      const mid = batch.length >> 1
      await sendIsolating(batch.slice(0, mid))
      await sendIsolating(batch.slice(mid))
    }
  }

  async function loop (): Promise<void> {
    running = true
    let backoff = BACKOFF_MIN_MS
    while (queue.length > 0) {
      if (!closing && queuedBytes < opts.maxBatchBytes && timer) {
        await new Promise<void>(resolve => { wake = resolve })
        continue
      }
      if (timer) { clearTimeout(timer); timer = null }
      const batch = take()
      for (;;) {
        try {
          await sendIsolating(batch)
          backoff = BACKOFF_MIN_MS
          break
        } catch (err) {
          if (closed) {
            for (const p of batch) p.done(new Error('ilp writer closed before questdb confirmed'))
            break
          }
          log.warn({ err, retryInMs: backoff, bytes: inflightBytes }, 'questdb write failed')
          emitter.emit('retry', err)
          await new Promise(resolve => setTimeout(resolve, backoff))
          backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)
        }
      }
      inflightBytes = 0
    }
    running = false
    emitter.emit('idle')
  }

  emitter.close = async (timeoutMs = 10000): Promise<void> => {
    closing = true
    kick()
    if (running || queue.length > 0) {
      if (!running) void loop()
      let t: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise(resolve => emitter.once('idle', resolve)),
        new Promise(resolve => { t = setTimeout(resolve, timeoutMs) })
      ])
      clearTimeout(t)
    }
    closed = true
    for (const p of queue) p.done(new Error('ilp writer closed before questdb confirmed'))
    queue = []
    queuedBytes = 0
    if (timer) { clearTimeout(timer); timer = null }
    kick()
    await transport.close().catch(() => {})
  }
  return emitter
}
