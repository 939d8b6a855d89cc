// The Markdown table of a benchmark run: each figure, its ceiling from the same
// run, the ratio, and the target it is held to.
import { runsVerdict } from './latency-runs.js'

type Obj = Record<string, unknown>

function get (o: unknown, path: string): number | undefined {
  let cur: unknown = o
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Obj)[k]
  }
  return typeof cur === 'number' ? cur : undefined
}

const fmt = (x: number | undefined, unit = ''): string => x === undefined ? 'n/a' : `${Math.round(x * 100) / 100}${unit}`
const ratio = (a: number | undefined, b: number | undefined): string => a === undefined || b === undefined || b === 0 ? 'n/a' : (a / b).toFixed(2)
const verdict = (ok: boolean | undefined): string => ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met'

/** A p99 of repeated latency runs: every run's value (when there are several) and a verdict counting the runs under a target. */
function spread (x: unknown, field: string): { each: string, verdict: (under: number) => string } {
  const all = (x as Obj)[`${field}Runs`]
  const one = get(x, field)
  const values = Array.isArray(all) ? all as number[] : one === undefined ? [] : [one]
  return {
    each: values.length > 1 ? `; p99 of each run ${values.map(v => fmt(v)).join(', ')} ms` : '',
    verdict: under => values.length === 0 ? 'not measured' : runsVerdict(values, under)
  }
}

export function toMarkdown (r: Obj): string {
  const m = r.machine as Obj
  const lines: string[] = []
  lines.push(`# fleetgate benchmarks ${String(r.date)} (commit ${String(r.commit)})`, '')
  const peers = [m.questdb === undefined ? '' : `, QuestDB ${String(m.questdb)}`, m.mosquitto === undefined ? '' : `, Mosquitto ${String(m.mosquitto)}`].join('')
  lines.push(`Machine: ${String(m.cpu)}, ${String(m.cores)} cores, ${String(m.memoryGb)} GB, Node ${String(m.node)}${peers}; load average at start ${JSON.stringify(m.loadAverageAtStart)}, at end ${JSON.stringify(r.loadAverageAtEnd)} (shared machine: figures are indicative).`, '')
  lines.push(`Settings: ${JSON.stringify(r.settings)}`, '')
  lines.push('| figure | value | ceiling (same run) | ratio | target | verdict |', '| --- | --- | --- | --- | --- | --- |')
  const row = (name: string, value: string, ceiling = '', rat = '', target = '', v = ''): void => { lines.push(`| ${name} | ${value} | ${ceiling} | ${rat} | ${target} | ${v} |`) }
  const enc = r.encoder
  if (enc) {
    row('ILP encode, official client, 1 row per call', fmt(get(enc, 'officialUsPerRow.single'), ' µs/row'))
    row('ILP encode, fast encoder, 1 row per call', fmt(get(enc, 'fastUsPerRow.single'), ' µs/row'), '', `${fmt(get(enc, 'speedup.single'))}x faster`)
    row('ILP encode, official / fast, 100 rows per call', `${fmt(get(enc, 'officialUsPerRow.batch100'))} / ${fmt(get(enc, 'fastUsPerRow.batch100'))} µs/row`)
    row('ILP protocol 2 (binary doubles), official / fast, 1 row per call', `${fmt(get(enc, 'official2UsPerRow.single'))} / ${fmt(get(enc, 'fast2UsPerRow.single'))} µs/row`, '', `${fmt(get(enc, 'bytesPerRow.v2'))} bytes/row against ${fmt(get(enc, 'bytesPerRow.v1'))}`)
    const g = (enc as Obj).guard
    if (g) {
      const packet = `QoS 1 PUBLISH of ${fmt(get(g, 'bytesPerPacket'))} bytes`
      for (const [key, how] of [['chunk64k', 'packets in 64 KiB chunks'], ['onePerChunk', 'one packet per chunk']] as const) {
        const ns = get(g, `nsPerPacket.${key}`)
        row(`MQTT packet guard (guard), ${packet}, ${how}`, fmt(ns, ' ns/packet'), '', '', '< 1 µs per packet', verdict(ns === undefined ? undefined : ns < 1000))
      }
    }
  }
  const ilp = get(r, 'ilp.rowsPerS')
  if (r.ilp) row('ILP writer alone into QuestDB (ceiling)', fmt(ilp, ' rows/s'), '', '', '', `${fmt(get(r, 'ilp.mbPerS'))} MB/s`)
  const mq0 = get(r, 'relay.qos0.receivedPerS') ?? get(r, 'relay.qos0.sentPerS')
  const mq1 = get(r, 'relay.qos1.ackedPerS')
  if (r.relay) {
    row(`Mosquitto ${String((r.relay as Obj).mosquitto)} bare relay QoS 0 (ceiling)`, fmt(mq0, '/s'), '', '', '', `broker CPU ${fmt(get(r, 'relay.qos0.brokerCpuPct'))} %`)
    row('Mosquitto bare relay QoS 1 (ceiling)', fmt(mq1, '/s'), '', '', '', `PUBACK p99 ${fmt(get(r, 'relay.qos1.pubackP99Ms'))} ms`)
    if (get(r, 'relay.simulatorScale.vehicles')) {
      row(`simulator alone: ${fmt(get(r, 'relay.simulatorScale.connected'))} vehicles connected, QoS 0 to Mosquitto`, fmt(get(r, 'relay.simulatorScale.sentPerS'), '/s'), '', '', '>= 10,000 vehicles, >= 50,000/s',
        `${verdict((get(r, 'relay.simulatorScale.connected') ?? 0) >= 10000 && (get(r, 'relay.simulatorScale.sentPerS') ?? 0) >= 50000)} (simulator CPU ${fmt(get(r, 'relay.simulatorScale.simulatorCpuPct'))} %)`)
    }
  }
  for (const [mode, res] of Object.entries((r.ingest ?? {}) as Obj)) {
    const q1 = get(res, 'qos1.sustainedPerS')
    const q0 = get(res, 'qos0.sustainedPerS')
    row(`gateway QoS 1 sustained, zero loss (ACK_MODE=${mode})`, fmt(q1, '/s'), `Mosquitto QoS 1 ${fmt(mq1, '/s')}; ILP ${fmt(ilp, '/s')}`, `${ratio(q1, mq1)}; ${ratio(q1, ilp)}`, '>= Mosquitto QoS 1', verdict(q1 !== undefined && mq1 !== undefined ? q1 >= mq1 : undefined))
    row(`gateway QoS 0 sustained, zero loss (ACK_MODE=${mode})`, fmt(q0, '/s'), `Mosquitto QoS 0 ${fmt(mq0, '/s')}; ILP ${fmt(ilp, '/s')}`, `${ratio(q0, mq0)}; ${ratio(q0, ilp)}`, '>= 0.5 x Mosquitto QoS 0', verdict(q0 !== undefined && mq0 !== undefined ? q0 >= mq0 / 2 : undefined))
    for (const at of ['atHalfMax', 'at20k'] as const) {
      const x = (res as Obj)[at]
      if (!x) continue
      const warm = get(x, 'warmupS')
      const n = get(x, 'runs') ?? 1
      const label = `${fmt(get(x, 'targetPerS'))}/s (${at === 'at20k' ? '20,000/s' : 'half the QoS 1 max'}), acked ${fmt(get(x, 'ackedPerS'))}/s${warm ? `, after ${fmt(warm)} s of warm-up` : ''}${n > 1 ? `; median of ${fmt(n)} runs` : ''}`
      const withWarm = warm ? `; p99 with the warm-up ${fmt(get(x, 'pubackP99WithWarmupMs'))} ms` : ''
      const simLag = get(x, 'simulatorLoopLagP99Ms')
      const withLag = simLag === undefined ? '' : `; the simulator's own loop delay p99 ${fmt(simLag)} ms`
      const puback = spread(x, 'pubackP99Ms')
      // the bare broker under the same load, each of its runs right after one of these
      const bare = (x as Obj).bare
      const barePuback = bare ? `bare Mosquitto, same load, runs alternated: PUBACK p50 / p99 ${fmt(get(bare, 'pubackP50Ms'))} / ${fmt(get(bare, 'pubackP99Ms'))} ms${spread(bare, 'pubackP99Ms').each}` : `Mosquitto QoS 1 p99 ${fmt(get(r, 'relay.qos1.pubackP99Ms'))} ms (at its maximum)`
      const ofRatios = (field: string): string => bare ? `${fmt(get(x, field))} (median of the runs' ratios)` : ''
      row(`PUBACK p50 / p90 / p99 / max at ${label}`, `${fmt(get(x, 'pubackP50Ms'))} / ${fmt(get(x, 'pubackP90Ms'))} / ${fmt(get(x, 'pubackP99Ms'))} / ${fmt(get(x, 'pubackMaxMs'))} ms${puback.each}${withWarm}${withLag}`, barePuback, ofRatios('pubackP99VsBare'), at === 'at20k' ? 'p99 < 50 ms' : '', at === 'at20k' ? puback.verdict(50) : '')
      const live = spread(x, 'liveP99Ms')
      const bareLive = bare ? `bare Mosquitto to a subscriber, p50 / p99 ${fmt(get(bare, 'subscriberP50Ms'))} / ${fmt(get(bare, 'subscriberP99Ms'))} ms${spread(bare, 'subscriberP99Ms').each}` : ''
      row(`publish-to-live p50 / p99 at ${label}`, `${fmt(get(x, 'liveP50Ms'))} / ${fmt(get(x, 'liveP99Ms'))} ms (${fmt(get(x, 'liveSamples'))} samples)${live.each}`, bareLive, ofRatios('liveP99VsBare'), 'p99 < 100 ms', live.verdict(100))
      const queryable = spread(x, 'queryableP99Ms')
      row(`publish-to-queryable p50 / p99 at ${label}`, `${fmt(get(x, 'queryableP50Ms'))} / ${fmt(get(x, 'queryableP99Ms'))} ms (${fmt(get(x, 'queryableSamples'))} probes)${queryable.each}`, '', '', 'p99 < 2000 ms', queryable.verdict(2000))
    }
    const f = (res as Obj).fleet
    if (f) {
      const rss = get(f, 'gatewayRssPeakMb')
      row(`gateway with ${fmt(get(f, 'connected'))} connected vehicles at ${fmt(get(f, 'ackedPerS'))}/s QoS 1`, `CPU ${fmt(get(f, 'gatewayCpuPct'))} % of a core, RSS peak ${fmt(rss)} MB`, `Mosquitto RSS ${fmt(get(r, 'relay.simulatorScale.brokerRssMb'))} MB (10,000 vehicles)`, '', 'RSS < 500 MB', verdict(rss === undefined ? undefined : rss < 500))
    }
  }
  if (r.peer) peerRows(r.peer as Obj, row)
  if (r.scaleOut) scaleOutRows(r.scaleOut as Obj, row)
  lines.push('')
  return lines.join('\n')
}

/**
 * docs/benchmark-results.md: the latest run's table under a generated-file
 * header, so the figures users read come from a run and never from prose
 * (pino's update-bench-doc does the same).
 */
export function toResultsDoc (r: Obj, args: string[]): string {
  const command = ['npm run bench', ...(args.length > 0 ? ['--', ...args] : [])].join(' ')
  const [title, ...rest] = toMarkdown(r).split('\n')
  return [
    '<!-- GENERATED by npm run bench (benchmarks/run.ts, benchmarks/harness/report.ts): do not edit. -->',
    (title ?? '').replace(/^# fleetgate benchmarks /, '# Benchmark results: '),
    '',
    `The latest run, written by \`${command}\`; earlier runs are in this file's git history. What each figure measures and how to run the benchmarks: [benchmarks.md](benchmarks.md).`,
    ...rest
  ].join('\n')
}

type Row = (name: string, value: string, ceiling?: string, rat?: string, target?: string, v?: string) => void

/** fleetgate beside Mosquitto + bridge (peer.bench.ts): each fleetgate side's figure, the peer's, and fleetgate/peer. */
function peerRows (p: Obj, row: Row): void {
  const names = (p.sides ?? []) as string[]
  const peer = names[names.length - 1] as string
  const fleet = names.slice(0, -1)
  const at = (phase: string, side: string): Obj | undefined => ((p[phase] ?? {}) as Obj)[side] as Obj | undefined
  const list = (xs: unknown): string => Array.isArray(xs) ? (xs as number[]).map(x => fmt(x)).join(', ') : 'n/a'
  const stepS = get(p, 'settings.stepS')
  // the first step that did not hold: how far it got, and whether the simulator was the limit
  const above = (side: string): string => {
    const steps = (at('ladder', side)?.steps ?? []) as Obj[]
    const failed = steps.filter(s => s.ok === false).sort((a, b) => (get(a, 'targetPerS') ?? 0) - (get(b, 'targetPerS') ?? 0))[0]
    if (!failed) return ''
    const t = get(failed, 'targetPerS') ?? 0
    return ` (${fmt(t)}/s: ${fmt((get(failed, 'ackedPerS') ?? 0) / t * 100)} % acked, ${fmt(get(failed, 'missing'))} missing; simulator CPU ${fmt(get(failed, 'simulatorCpuPct'))} %, loop p99 ${fmt(get(failed, 'simulatorLoopLagP99Ms'))} ms)`
  }
  const rate = (side: string): number | undefined => get(at('ladder', side), 'sustainedPerS')
  for (const side of fleet) {
    if (p.ladder) {
      row(`peer, ${side}: highest QoS 1 rate held ${fmt(stepS)} s (acked >= 97 %, 0 missing)`, `${fmt(rate(side), '/s')}${above(side)}`, `${peer}: ${fmt(rate(peer), '/s')}${above(peer)}`, ratio(rate(side), rate(peer)), '>= 1.5 x the peer', verdict(rate(side) === undefined || rate(peer) === undefined ? undefined : (rate(side) as number) >= 1.5 * (rate(peer) as number)))
    }
    if (p.latency) {
      const a = at('latency', side)
      const b = at('latency', peer)
      const n = ((a?.runs ?? []) as unknown[]).length
      for (const q of ['50', '99'] as const) {
        const fa = get(a, `pubackP${q}Ms`)
        const fb = get(b, `pubackP${q}Ms`)
        row(`peer, ${side}: PUBACK p${q} at 20,000/s, ${n} alternated pair(s) (median; each run)`, `${fmt(fa, ' ms')} (${list(a?.[`pubackP${q}MsRuns`])}), acked ${fmt(get(a, 'ackedPerS'))}/s`, `${peer}: ${fmt(fb, ' ms')} (${list(b?.[`pubackP${q}MsRuns`])}), acked ${fmt(get(b, 'ackedPerS'))}/s`, ratio(fa, fb), q === '99' ? '<= the peer' : '', q === '99' ? verdict(fa === undefined || fb === undefined ? undefined : fa <= fb) : '')
      }
      const ca = get(a, 'cpuSPer100k.total')
      const cb = get(b, 'cpuSPer100k.total')
      row(`peer, ${side}: CPU s per 100,000 readings at 20,000/s (median)`, fmt(ca, ' s'), `${peer}: ${fmt(cb, ' s')} (Mosquitto ${fmt(get(b, 'cpuSPer100k.mosquitto'))} + bridge ${fmt(get(b, 'cpuSPer100k.bridge'))})`, ratio(ca, cb))
    }
    if (p.crash) {
      const a = at('crash', side)
      const b = at('crash', peer)
      row(`peer, ${side}: kill -9 at ${fmt(get(a, 'targetPerS'))}/s (gateway; bridge), acknowledged but missing in QuestDB`, `${fmt(get(a, 'missing'))} of ${fmt(get(a, 'acked'))} (restart ${fmt(get(a, 'restartMs'))} ms)`, `${peer}: ${fmt(get(b, 'missing'))} of ${fmt(get(b, 'acked'))} (restart ${fmt(get(b, 'restartMs'))} ms)`, '', '0 missing', verdict(get(a, 'missing') === undefined ? undefined : get(a, 'missing') === 0))
    }
  }
}

/** Scale-out on Redis (scale-out.bench.ts): across nodes beside one process, Redis's CPU, and the nodes one Redis carries. */
function scaleOutRows (s: Obj, row: Row): void {
  const at = `${fmt(get(s, 'targetPerS'))}/s, ${fmt(get(s, 'vehicles'))} vehicles, ${fmt(get(s, 'pairs'))} alternated pair(s) (median)`
  const each = (side: string): string => {
    const all = (s[side] as Obj | undefined)?.liveP99MsRuns
    return Array.isArray(all) && all.length > 1 ? `; p99 of each run ${(all as number[]).map(v => fmt(v)).join(', ')} ms` : ''
  }
  row(`scale-out: publish-to-live p50 / p99 across nodes (gateway node -> Redis -> api node) at ${at}`,
    `${fmt(get(s, 'acrossNodes.liveP50Ms'))} / ${fmt(get(s, 'acrossNodes.liveP99Ms'))} ms${each('acrossNodes')}, acked ${fmt(get(s, 'acrossNodes.ackedPerS'))}/s`,
    `one process: ${fmt(get(s, 'oneProcess.liveP50Ms'))} / ${fmt(get(s, 'oneProcess.liveP99Ms'))} ms${each('oneProcess')}, acked ${fmt(get(s, 'oneProcess.ackedPerS'))}/s`,
    `${fmt(get(s, 'liveP50Ratio'))} / ${fmt(get(s, 'liveP99Ratio'))}`)
  row('scale-out: CPU s per 100,000 readings, across nodes', `Redis ${fmt(get(s, 'cpuSPer100k.redis'), ' s')}; gateway node ${fmt(get(s, 'cpuSPer100k.gateway'), ' s')}; api node ${fmt(get(s, 'cpuSPer100k.api'), ' s')}`, `one process (gateway and api): ${fmt(get(s, 'cpuSPer100k.oneProcess'), ' s')}`,
    ratio((get(s, 'cpuSPer100k.gateway') ?? 0) + (get(s, 'cpuSPer100k.api') ?? 0) + (get(s, 'cpuSPer100k.redis') ?? 0), get(s, 'cpuSPer100k.oneProcess')))
  const est = s.gatewayNodesPerRedis as Obj | undefined
  row('scale-out: gateway nodes one Redis carries (estimate)', `${fmt(get(est, 'estimate'))}; one Redis core ~ ${fmt(get(est, 'readingsPerSOneRedisCore'), ' readings/s')}`, String(est?.formula ?? ''))
}
