// Sends ILP batches to QuestDB's /write, one request at a time (two flushes in
// flight have lost data: nodejs-questdb-client#44). The caller keeps the bytes:
// a failed request is sent again with the same bytes, with backoff, until
// QuestDB answers 2xx. A 4xx means QuestDB refuses some lines whatever we do:
// the batch is bisected to find the chunk at fault, the rest is written, and
// that chunk is handed to onPoison instead of blocking the stream forever.
import { createTransport, SenderOptions, type SenderTransport } from '@questdb/nodejs-client'
import type { Logger } from 'pino'

export interface IlpSenderOptions {
  httpUrl: string
  log: Logger
  /** Called after every request, for metrics. */
  onFlush?: (info: { ok: boolean, bytes: number, ms: number }) => void
  /** A chunk QuestDB refused with a 4xx; it is not sent again. */
  onPoison?: (chunk: Buffer, err: Error) => void
  backoffMinMs?: number
  backoffMaxMs?: number
}

export interface IlpSender {
  /**
   * Resolves once QuestDB answered 2xx for every chunk (or refused one as
   * poison). Rejects only when stop() says to give up; then nothing is known
   * of the batch and the caller must keep it.
   */
  send: (chunks: Buffer[], stop?: () => boolean) => Promise<void>
  close: () => Promise<void>
}

export function transportFor (httpUrl: string): SenderTransport {
  const u = new URL(httpUrl)
  const proto = u.protocol === 'https:' ? 'https' : 'http'
  // protocol_version is fixed so nothing asks the server; retry_timeout bounds
  // one attempt (the client aborts the request after it): our loop retries.
  return createTransport(new SenderOptions(`${proto}::addr=${u.hostname}:${u.port || (proto === 'https' ? 443 : 80)};protocol_version=1;retry_timeout=30000;request_timeout=30000;request_min_throughput=1048576`))
}

export class IlpGiveUpError extends Error {
  code = 'GW_ERR_ILP_GAVE_UP'
}

function isBadRequest (err: unknown): boolean {
  return /statusCode=4\d\d/.test(String((err as Error)?.message))
}

export function createIlpSender (opts: IlpSenderOptions): IlpSender {
  const { log } = opts
  const transport = transportFor(opts.httpUrl)
  const minMs = opts.backoffMinMs ?? 100
  const maxMs = opts.backoffMaxMs ?? 5000
  let busy = false

  async function post (body: Buffer): Promise<void> {
    const t0 = performance.now()
    try {
      await transport.send(body)
      opts.onFlush?.({ ok: true, bytes: body.length, ms: performance.now() - t0 })
    } catch (err) {
      opts.onFlush?.({ ok: false, bytes: body.length, ms: performance.now() - t0 })
      throw err
    }
  }

  async function sendIsolating (chunks: Buffer[]): Promise<void> {
    try {
      await post(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks))
    } catch (err) {
      if (!isBadRequest(err)) throw err
      if (chunks.length === 1) {
        log.error({ err, bytes: (chunks[0] as Buffer).length }, 'questdb refused ilp lines')
        opts.onPoison?.(chunks[0] as Buffer, err as Error)
        return
      }
      const mid = chunks.length >> 1
      await sendIsolating(chunks.slice(0, mid))
      await sendIsolating(chunks.slice(mid))
    }
  }

  return {
    async send (chunks, stop = () => false) {
      if (busy) throw new Error('ilp sender: one request at a time')
      busy = true
      try {
        let backoff = minMs
        for (;;) {
          try {
            await sendIsolating(chunks)
            return
          } catch (err) {
            if (stop()) throw new IlpGiveUpError(`gave up: ${(err as Error).message}`)
            log.warn({ err, retryInMs: backoff }, 'questdb write failed')
            await new Promise(resolve => setTimeout(resolve, backoff))
            backoff = Math.min(backoff * 2, maxMs)
            if (stop()) throw new IlpGiveUpError(`gave up: ${(err as Error).message}`)
          }
        }
      } finally {
        busy = false
      }
    },
    async close () {
      await transport.close().catch(() => {})
    }
  }
}
