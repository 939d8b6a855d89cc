// Sends ILP batches to QuestDB's /write, one request at a time (two flushes in
// flight have lost data: nodejs-questdb-client#44). The caller keeps the bytes:
// a failed request is sent again with the same bytes, with backoff, until
// QuestDB answers 2xx. A 4xx means QuestDB refuses some lines whatever we do:
// the batch is bisected to find the chunk at fault, the rest is written, and
// that chunk is handed to onPoison instead of blocking the stream forever.
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Logger } from 'pino'
import { GW_ERR_ILP_BUSY, GW_ERR_ILP_GAVE_UP, GW_ERR_ILP_HTTP, GW_ERR_ILP_TIMEOUT, ilpHttpError } from '../errors.js'

export interface IlpSenderOptions {
  httpUrl: string
  log: Logger
  /** Called after every request, for metrics. */
  onFlush?: (info: { ok: boolean, bytes: number, ms: number }) => void
  /** A chunk QuestDB refused with a 4xx; it is not sent again. */
  onPoison?: (chunk: Buffer, err: Error) => void
  backoffMinMs?: number
  backoffMaxMs?: number
  /** Bound on one request (plus 1 s per MiB of body). */
  requestTimeoutMs?: number
}

export interface IlpSender {
  /**
   * Resolves once QuestDB answered 2xx for every chunk (or refused one as
   * poison). Rejects only when stop() says to give up; then nothing is known
   * of the batch and the caller must keep it.
   */
  send: (chunks: Buffer[], stop?: () => boolean) => Promise<void>
  /** Aborts the request in flight, if any (its batch then counts as not sent). */
  abort: () => void
  close: () => Promise<void>
}

const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 4 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 4 }) }

/**
 * One POST to /write. Not the client's transport: that one retries inside a
 * single call for up to retry_timeout (undici's retry agent, also on 5xx and
 * refused connections), which would hide an outage from our loop and hold
 * shutdown for that long. The lines themselves come from the client's encoder.
 */
function postIlp (httpUrl: string, body: Buffer, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const u = new URL('/write?precision=n', httpUrl)
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request(u, {
      method: 'POST',
      agent: u.protocol === 'https:' ? agents.https : agents.http,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length },
      signal,
      timeout: timeoutMs
    }, res => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) resolve()
        else reject(ilpHttpError(status, Buffer.concat(parts).toString().slice(0, 500)))
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new GW_ERR_ILP_TIMEOUT(timeoutMs)))
    req.on('error', reject)
    req.end(body)
  })
}

/** QuestDB refused the lines themselves: sending them again cannot help. */
function isBadRequest (err: unknown): boolean {
  return err instanceof GW_ERR_ILP_HTTP && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500
}

export function createIlpSender (opts: IlpSenderOptions): IlpSender {
  const { log } = opts
  const timeoutMs = opts.requestTimeoutMs ?? 30000
  let current: AbortController | null = null
  const minMs = opts.backoffMinMs ?? 100
  const maxMs = opts.backoffMaxMs ?? 5000
  let busy = false

  async function post (body: Buffer): Promise<void> {
    const t0 = performance.now()
    current = new AbortController()
    try {
      await postIlp(opts.httpUrl, body, current.signal, timeoutMs + body.length / 1048576 * 1000)
      opts.onFlush?.({ ok: true, bytes: body.length, ms: performance.now() - t0 })
    } catch (err) {
      opts.onFlush?.({ ok: false, bytes: body.length, ms: performance.now() - t0 })
      throw err
    } finally {
      current = null
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
      if (busy) throw new GW_ERR_ILP_BUSY()
      busy = true
      try {
        let backoff = minMs
        for (;;) {
          try {
            await sendIsolating(chunks)
            return
          } catch (err) {
            if (stop()) throw new GW_ERR_ILP_GAVE_UP((err as Error).message, { cause: err })
            log.warn({ err, retryInMs: backoff }, 'questdb write failed')
            // unref: a retrying sender alone does not keep a process alive
            await new Promise(resolve => setTimeout(resolve, backoff).unref())
            backoff = Math.min(backoff * 2, maxMs)
            if (stop()) throw new GW_ERR_ILP_GAVE_UP((err as Error).message, { cause: err })
          }
        }
      } finally {
        busy = false
      }
    },
    abort () {
      current?.abort()
    },
    async close () {
      current?.abort()
    }
  }
}
