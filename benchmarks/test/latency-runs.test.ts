import t from 'tap'
import { aggregateRuns, median, runsVerdict } from '../harness/latency-runs.js'
import { toMarkdown } from '../harness/report.js'

t.test('median of odd and even counts, whatever the order', async t => {
  t.equal(median([41, 12, 30]), 30)
  t.equal(median([90, 10, 40, 20]), 30)
  t.equal(median([7]), 7)
  t.throws(() => median([]), RangeError)
})

t.test('each field is the median over the runs; the p99s of every run are kept in run order', async t => {
  const a = aggregateRuns([
    { ackedPerS: 19990, pubackP50Ms: 3, pubackP99Ms: 61, liveP99Ms: 70, queryableP99Ms: 400, liveSamples: 1000 },
    { ackedPerS: 20010, pubackP50Ms: 5, pubackP99Ms: 38, liveP99Ms: 120, queryableP99Ms: 500, liveSamples: 1200 },
    { ackedPerS: 20000, pubackP50Ms: 4, pubackP99Ms: 44, liveP99Ms: 90, queryableP99Ms: 450, liveSamples: 1100 }
  ])
  t.same(a, {
    runs: 3,
    ackedPerS: 20000,
    pubackP50Ms: 4,
    pubackP99Ms: 44,
    pubackP99MsRuns: [61, 38, 44],
    liveP99Ms: 90,
    liveP99MsRuns: [70, 120, 90],
    queryableP99Ms: 450,
    queryableP99MsRuns: [400, 500, 450],
    liveSamples: 1100
  })
})

t.test('a figure some run lacks is left out, not taken from fewer runs', async t => {
  const a = aggregateRuns([{ pubackP99Ms: 40, liveP99Ms: 80 }, { pubackP99Ms: 60, liveP99Ms: Number.NaN }])
  t.same(a, { runs: 2, pubackP99Ms: 50, pubackP99MsRuns: [40, 60] })
  t.throws(() => aggregateRuns([]), RangeError)
})

t.test('the verdict counts the runs under the target', async t => {
  t.equal(runsVerdict([41, 57, 33, 45, 66], 50), 'met in 3 of 5 runs')
  t.equal(runsVerdict([41, 33, 45], 50), 'met (3 of 3 runs)')
  t.equal(runsVerdict([51, 60], 50), 'NOT met (0 of 2 runs)')
  t.equal(runsVerdict([50], 50), 'NOT met', 'the target is strictly under')
  t.equal(runsVerdict([49.9], 50), 'met')
})

t.test('the report shows the median, each run and the count of runs under each target', async t => {
  const at20k = { targetPerS: 20000, ackedPerS: 20000, runs: 3, pubackP50Ms: 4, pubackP90Ms: 15, pubackP99Ms: 44, pubackMaxMs: 90, pubackP99MsRuns: [61, 38, 44], liveP50Ms: 5, liveP99Ms: 90, liveP99MsRuns: [70, 120, 90], liveSamples: 1100, queryableP50Ms: 140, queryableP99Ms: 450, queryableP99MsRuns: [400, 500, 450], queryableSamples: 90 }
  const md = toMarkdown({ date: 'd', commit: 'c', machine: { cpu: 'x', cores: 2, memoryGb: 24, node: 'v20' }, settings: {}, ingest: { spool: { at20k } } })
  const line = (start: string): string => md.split('\n').find(l => l.startsWith(`| ${start}`)) ?? ''
  const puback = line('PUBACK')
  t.match(puback, '20000/s (20,000/s), acked 20000/s; median of 3 runs')
  t.match(puback, '4 / 15 / 44 / 90 ms; p99 of each run 61, 38, 44 ms')
  t.match(puback, '| p99 < 50 ms | met in 2 of 3 runs |')
  t.match(line('publish-to-live'), '5 / 90 ms (1100 samples); p99 of each run 70, 120, 90 ms')
  t.match(line('publish-to-live'), '| p99 < 100 ms | met in 2 of 3 runs |')
  t.match(line('publish-to-queryable'), '| p99 < 2000 ms | met (3 of 3 runs) |')
})

t.test('a single run (or a results file from before repeated runs) reads as before', async t => {
  const at20k = { targetPerS: 20000, ackedPerS: 19990, pubackP50Ms: 3, pubackP90Ms: 14, pubackP99Ms: 52, pubackMaxMs: 97, liveP50Ms: 4, liveP99Ms: 41, liveSamples: 900, queryableP50Ms: 130, queryableP99Ms: 408, queryableSamples: 80 }
  const md = toMarkdown({ date: 'd', commit: 'c', machine: { cpu: 'x', cores: 2, memoryGb: 24, node: 'v20' }, settings: {}, ingest: { spool: { at20k } } })
  const puback = md.split('\n').find(l => l.startsWith('| PUBACK')) ?? ''
  t.notMatch(puback, 'median of')
  t.notMatch(puback, 'each run')
  t.match(puback, '| p99 < 50 ms | NOT met |')
  t.match(md, /publish-to-live[^\n]*\| p99 < 100 ms \| met \|/)
})

t.test('with the bare broker beside each run: its p99s in the ceiling column and the median ratio', async t => {
  const runs = [
    { pubackP50Ms: 4, pubackP99Ms: 60, liveP50Ms: 5, liveP99Ms: 70, pubackP99VsBare: 60 / 40, liveP99VsBare: 70 / 20 },
    { pubackP50Ms: 6, pubackP99Ms: 90, liveP50Ms: 7, liveP99Ms: 95, pubackP99VsBare: 90 / 45, liveP99VsBare: 95 / 19 },
    { pubackP50Ms: 5, pubackP99Ms: 45, liveP50Ms: 6, liveP99Ms: 50, pubackP99VsBare: 45 / 15, liveP99VsBare: 50 / 25 }
  ]
  const bare = aggregateRuns([
    { pubackP50Ms: 2, pubackP99Ms: 40, subscriberP50Ms: 3, subscriberP99Ms: 20 },
    { pubackP50Ms: 3, pubackP99Ms: 45, subscriberP50Ms: 4, subscriberP99Ms: 19 },
    { pubackP50Ms: 2, pubackP99Ms: 15, subscriberP50Ms: 3, subscriberP99Ms: 25 }
  ])
  const agg = aggregateRuns(runs)
  const at20k = { targetPerS: 20000, ackedPerS: 20000, ...agg, bare }
  t.equal(agg.pubackP99VsBare, 2, 'the median of the runs\' ratios (1.5, 2, 3), not the ratio of the medians (60 / 40)')
  const md = toMarkdown({ date: 'd', commit: 'c', machine: { cpu: 'x', cores: 2, memoryGb: 24, node: 'v20' }, settings: {}, relay: { mosquitto: '2', qos1: { pubackP99Ms: 99 } }, ingest: { spool: { at20k } } })
  const line = (start: string): string => md.split('\n').find(l => l.startsWith(`| ${start}`)) ?? ''
  t.match(line('PUBACK'), '| bare Mosquitto, same load, runs alternated: PUBACK p50 / p99 2 / 40 ms; p99 of each run 40, 45, 15 ms')
  t.match(line('PUBACK'), '| 2 (median of the runs\' ratios) | p99 < 50 ms | met in 1 of 3 runs |')
  t.notMatch(line('PUBACK'), '99 ms', 'not the relay ceiling at its maximum')
  t.match(line('publish-to-live'), '| bare Mosquitto to a subscriber, p50 / p99 3 / 20 ms; p99 of each run 20, 19, 25 ms | 3.5 (median of the runs\' ratios) | p99 < 100 ms | met (3 of 3 runs) |')
})
