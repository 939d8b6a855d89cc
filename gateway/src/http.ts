// The gateway's small HTTP port when it runs without the api in its process:
// GET /metrics (Prometheus), /healthz (liveness), /readyz (QuestDB and broker
// up; 503 while shutting down). Plain node:http: three fixed routes.
import { createServer, type Server, type ServerOptions } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry, collectDefaultMetrics } from 'prom-client'
import type { Logger } from 'pino'
import { isReady } from '../../lib/questdb/managed.js'
import type { Readiness } from './gateway.js'

export interface GatewayHttp {
  url: string
  /** The address actually bound, for logs. */
  bound: string
  server: Server
  close: () => Promise<void>
}

export interface GatewayHttpOptions {
  host: string
  port: number
  registry: Registry
  questdb: { httpUrl: string, pgUrl: string }
  brokerReady: () => boolean
  /** The gateway's own checks and what is degraded. */
  readiness?: () => Readiness
  log: Logger
  /** Labels on every series (a merged registry does not keep the gateway registry's own): the node with REDIS_URL. */
  defaultLabels?: Record<string, string>
  /** Node's http server timeouts (api/src/main.ts httpTimeouts). */
  timeouts?: ServerOptions
}

export async function startGatewayHttp (opts: GatewayHttpOptions): Promise<GatewayHttp> {
  const runtime = new Registry()
  collectDefaultMetrics({ register: runtime, prefix: 'fleetgate_gateway_' })
  const registries = Registry.merge([opts.registry, runtime])
  if (opts.defaultLabels) registries.setDefaultLabels(opts.defaultLabels)
  let closing = false
  const server = createServer(opts.timeouts ?? {}, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const json = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)) }
    if (req.method !== 'GET') { json(405, { status: 'method_not_allowed' }); return }
    if (path === '/healthz') { json(200, { status: 'ok' }); return }
    if (path === '/readyz') {
      void (async () => {
        const gateway = opts.readiness?.()
        const checks: Record<string, boolean> = { questdb: !closing && await isReady(opts.questdb.httpUrl, opts.questdb.pgUrl), broker: !closing && opts.brokerReady(), ...gateway?.checks }
        const degraded = [...gateway?.degraded ?? []]
        const ok = !closing && Object.values(checks).every(Boolean)
        json(ok ? 200 : 503, { status: ok ? 'ready' : closing ? 'shutting_down' : 'not_ready', checks, ...(degraded.length > 0 ? { degraded } : {}) })
      })().catch(err => { opts.log.warn({ err }, 'readiness check failed'); json(503, { status: 'not_ready' }) })
      return
    }
    if (path === '/metrics') {
      registries.metrics().then(text => { res.writeHead(200, { 'content-type': registries.contentType }).end(text) }, err => {
        opts.log.error({ err }, 'metrics failed')
        json(500, { status: 'error' })
      })
      return
    }
    json(404, { status: 'not_found' })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve() }) })
  const { port } = server.address() as AddressInfo
  const url = `http://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${port}`
  const bound = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`
  opts.log.info({ url: bound }, 'gateway http listening')
  return {
    url,
    bound,
    server,
    async close () {
      closing = true
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
