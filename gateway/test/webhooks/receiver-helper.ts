// A real HTTP receiver of webhooks on 127.0.0.1, port 0, that can answer 2xx,
// fail (500), be slow (answer after `slowMs`), or refuse connections (stopped,
// then listening again on the same port). It records every request.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export type Mode = 'ok' | 'fail' | 'slow'

export interface Received { headers: IncomingHttpHeaders, body: string, status: number | null }

export interface Receiver {
  url: string
  mode: Mode
  requests: Received[]
  /** The most requests it held unanswered at once. */
  maxOpen: number
  /** Alert ids answered 2xx. */
  delivered: () => Set<string>
  /** Stops listening: connections are refused until `listen()`. */
  refuse: () => Promise<void>
  listen: () => Promise<void>
}

export async function startReceiver (t: Test, opts: { mode?: Mode, slowMs?: number } = {}): Promise<Receiver> {
  let server: Server
  let port = 0
  const timers = new Set<NodeJS.Timeout>()
  const r: Receiver = {
    url: '',
    mode: opts.mode ?? 'ok',
    requests: [],
    maxOpen: 0,
    delivered () {
      const ids = new Set<string>()
      for (const q of r.requests) if (q.status === 200) ids.add((JSON.parse(q.body) as { alert: { id: string } }).alert.id)
      return ids
    },
    async refuse () {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    },
    async listen () {
      let open = 0
      server = createServer((req, res) => {
        open++
        r.maxOpen = Math.max(r.maxOpen, open)
        res.once('close', () => { open-- })
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c))
        req.on('end', () => {
          const rec: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: null }
          r.requests.push(rec)
          const answer = (status: number): void => { if (!res.destroyed) { rec.status = status; res.writeHead(status).end() } }
          if (r.mode === 'fail') answer(500)
          else if (r.mode === 'slow') {
            // answered after the sender gave up: a success it never saw
            const timer = setTimeout(() => { timers.delete(timer); if (!req.socket.destroyed) answer(200) }, opts.slowMs ?? 6000)
            timers.add(timer)
          } else answer(200)
        })
      })
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => resolve())
      })
      port = (server.address() as AddressInfo).port
      r.url = `http://127.0.0.1:${port}/hooks/fleet`
    }
  }
  await r.listen()
  t.teardown(async () => {
    for (const timer of timers) clearTimeout(timer)
    if (server.listening) await r.refuse()
  })
  return r
}
