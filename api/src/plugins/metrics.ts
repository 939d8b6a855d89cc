// Prometheus metrics of the api, and GET /metrics (at the root) serving them
// merged with the registries passed in (in one process: the gateway's).
// Decorates `fastify.metrics`: the live feed sets `wsClients`.
import fp from 'fastify-plugin'
import { AggregatorRegistry, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export function createApiMetrics (opts: { defaults?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'fleetgate_' })
  const r = { registers: [registry] }
  let countWs: (() => number) | null = null
  const included: Registry[] = []
  return {
    registry,
    included,
    /** Serves another part's registry (the live feed's) on the same /metrics. */
    include (other: Registry): void { if (!included.includes(other)) included.push(other) },
    httpSeconds: new Histogram({ name: 'fleetgate_http_request_duration_seconds', help: 'HTTP request latency, by route template, method and status code', labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], ...r }),
    /** Set (inc/dec) by the live feed, or read at scrape time from countWsClientsWith's function. */
    wsClients: new Gauge({ name: 'fleetgate_ws_clients', help: 'Connected live-feed WebSocket clients', ...r, collect () { if (countWs) this.set(countWs()) } }),
    countWsClientsWith (fn: () => number): void { countWs = fn }
  }
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics
  }
}

export interface MetricsOptions {
  metrics?: ApiMetrics
  /** Further registries served on the same /metrics (e.g. the gateway's). */
  registries?: Registry[]
  /** Metrics of other processes (gateway workers), summed with these at each scrape. */
  remote?: () => Promise<Array<Awaited<ReturnType<Registry['getMetricsAsJSON']>>>>
}

export default fp<MetricsOptions>(async function metrics (fastify, opts) {
  const m = opts.metrics ?? createApiMetrics()
  fastify.decorate('metrics', m)
  const registries = [m.registry, ...(opts.registries ?? [])]
  fastify.addHook('onResponse', async (request, reply) => {
    // the route template, never the raw url: ids would explode the label set
    const route = request.routeOptions.url ?? 'unmatched'
    m.httpSeconds.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
  fastify.get('/metrics', { schema: { summary: 'Prometheus metrics (of the gateway too, in one process)', tags: ['ops'], response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } }, async (_request, reply) => {
    const all = [...registries, ...m.included]
    const remote = opts.remote
    const merged = remote !== undefined
      ? AggregatorRegistry.aggregate([...await Promise.all(all.map(r => r.getMetricsAsJSON())), ...await remote()])
      : all.length === 1 ? m.registry : Registry.merge(all)
    return await reply.type(merged.contentType).send(await merged.metrics())
  })
}, { name: 'metrics' })
