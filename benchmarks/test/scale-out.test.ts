import t from 'tap'
import { estimateNodesPerRedis } from '../scale-out.bench.js'
import { toMarkdown } from '../harness/report.js'

t.test('the nodes one Redis carries: gateway CPU per reading over Redis CPU per reading, rounded down, with its formula', async t => {
  const e = estimateNodesPerRedis({ gateway: 4.5, redis: 0.4 })
  t.equal(e.estimate, 11)
  t.equal(e.readingsPerSOneRedisCore, 250000)
  t.match(e.formula, /gateway node CPU s per 100k readings \/ Redis CPU s per 100k readings/)
  t.same(estimateNodesPerRedis({ gateway: 4.5, redis: 0 }), { ...e, estimate: null, readingsPerSOneRedisCore: null }, 'no Redis CPU measured: no estimate')
})

t.test('the report gives across nodes beside one process with their ratio, Redis CPU and the estimate', async t => {
  const scaleOut = {
    targetPerS: 5000,
    vehicles: 1000,
    pairs: 1,
    oneProcess: { liveP50Ms: 10, liveP99Ms: 40, ackedPerS: 5000, liveP99MsRuns: [40] },
    acrossNodes: { liveP50Ms: 15, liveP99Ms: 60, ackedPerS: 5000, liveP99MsRuns: [60] },
    liveP50Ratio: 1.5,
    liveP99Ratio: 1.5,
    cpuSPer100k: { oneProcess: 5, gateway: 4.5, api: 1, redis: 0.4 },
    gatewayNodesPerRedis: estimateNodesPerRedis({ gateway: 4.5, redis: 0.4 })
  }
  const md = toMarkdown({ date: 'd', commit: 'c', machine: { cpu: 'x', cores: 2, memoryGb: 24, node: 'v20' }, settings: {}, scaleOut })
  t.match(md, /scale-out: publish-to-live p50 \/ p99 across nodes[^|]*\| 15 \/ 60 ms, acked 5000\/s \| one process: 10 \/ 40 ms, acked 5000\/s \| 1.5 \/ 1.5 \|/)
  t.match(md, /Redis 0.4 s; gateway node 4.5 s; api node 1 s \| one process \(gateway and api\): 5 s \| 1.18 \|/)
  t.match(md, /gateway nodes one Redis carries \(estimate\) \| 11; one Redis core ~ 250000 readings\/s \| gateway nodes per Redis ~ floor/)
})
