// An in-memory ILP writer: chunks in, one promise each that resolves once
// QuestDB answered 2xx for the batch holding it. The gateway itself goes
// through the spool (spool.ts); this is for callers without a spool.
import type { Logger } from 'pino'
import { createIlpSender, type IlpSenderOptions } from './ilp-sender.js'
import { GW_ERR_ILP_WRITER_CLOSED } from '../errors.js'

export interface IlpWriterOptions {
  httpUrl: string
  log: Logger
  flushIntervalMs: number
  maxBatchBytes: number
  onFlush?: IlpSenderOptions['onFlush']
}

interface Pending { chunk: Buffer, resolve: () => void, reject: (err: Error) => void }

export interface IlpWriter {
  write: (chunk: Buffer) => Promise<void>
  pendingBytes: () => number
  /** Sends what is queued for at most timeoutMs; what is left is rejected. */
  close: (timeoutMs?: number) => Promise<void>
}

export function createIlpWriter (opts: IlpWriterOptions): IlpWriter {
  const sender = createIlpSender({ httpUrl: opts.httpUrl, log: opts.log, ...(opts.onFlush ? { onFlush: opts.onFlush } : {}) })
  let queue: Pending[] = []
  let queued = 0
  let inflight = 0
  let timer: NodeJS.Timeout | null = null
  let running: Promise<void> | null = null
  let stopping = false

  async function run (): Promise<void> {
    while (queue.length > 0) {
      let n = 0
      let bytes = 0
      while (n < queue.length && (n === 0 || bytes + (queue[n] as Pending).chunk.length <= opts.maxBatchBytes)) bytes += (queue[n++] as Pending).chunk.length
      const batch = queue.slice(0, n)
      queue = queue.slice(n)
      queued -= bytes
      inflight = bytes
      try {
        await sender.send(batch.map(p => p.chunk), () => stopping)
        for (const p of batch) p.resolve()
      } catch (err) {
        for (const p of batch) p.reject(err as Error)
      }
      inflight = 0
    }
    running = null
  }

  function schedule (): void {
    if (running) return
    if (queued >= opts.maxBatchBytes || stopping) {
      if (timer) { clearTimeout(timer); timer = null }
      running = run()
    } else if (!timer) {
      timer = setTimeout(() => { timer = null; if (!running) running = run() }, opts.flushIntervalMs)
    }
  }

  return {
    write (chunk) {
      if (stopping) return Promise.reject(new GW_ERR_ILP_WRITER_CLOSED())
      return new Promise((resolve, reject) => {
        queue.push({ chunk, resolve, reject })
        queued += chunk.length
        schedule()
      })
    },
    pendingBytes: () => queued + inflight,
    async close (timeoutMs = 10000) {
      if (timer) { clearTimeout(timer); timer = null }
      if (!running && queue.length > 0) running = run()
      const deadline = setTimeout(() => { stopping = true }, timeoutMs)
      while (running) await running
      clearTimeout(deadline)
      stopping = true
      for (const p of queue) p.reject(new GW_ERR_ILP_WRITER_CLOSED())
      queue = []
      await sender.close()
    }
  }
}
