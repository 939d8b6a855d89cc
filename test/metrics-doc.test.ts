// The metrics table of docs/operations.md against what /metrics exports, both
// ways: a metric added without a row, or a row naming a metric that does not
// exist, fails here.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { startGatewayHttp } from '../gateway/src/index.js'
import { quietLogger, startQuestDbForTest, startStack } from './helper.js'

/** The names in the first column of the table under `## Metrics`; `*` is a wildcard. */
export function documentedMetrics (doc: string): string[] {
  const section = doc.split(/^## Metrics$/m)[1]?.split(/^## /m)[0] ?? ''
  const names: string[] = []
  for (const line of section.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1]
    if (!first) continue
    for (const m of first.matchAll(/`([^`]+)`/g)) names.push((m[1] as string).replace(/\{.*\}$/, ''))
  }
  return names
}

/** Metric family names of a Prometheus text document (`# TYPE` lines). */
function exported (text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map(m => m[1] as string)
}

function matches (pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name
  return new RegExp('^' + pattern.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$').test(name)
}

t.test('the metrics table of docs/operations.md names exactly the exported metrics', async t => {
  const db = await startQuestDbForTest(t)
  // npm start: one /metrics for the gateway, the api and the live feed
  const s = await startStack(t, db, { API_AUTH: 'required' })
  // fleetgate gateway alone: its own small port
  const gw = await startGatewayHttp({ host: '127.0.0.1', port: 0, registry: s.gw.gateway.metrics.registry, questdb: s.gw.questdb, brokerReady: () => true, log: quietLogger() })
  t.teardown(() => gw.close())
  const names = new Set<string>()
  for (const url of [s.httpUrl + '/metrics', gw.url + '/metrics']) {
    const res = await fetch(url)
    t.equal(res.status, 200, url)
    for (const n of exported(await res.text())) names.add(n)
  }
  t.ok(names.has('fleetgate_spool_unconfirmed_bytes'), 'sanity: the gateway registry is exported')
  t.ok(names.has('fleetgate_live_clients'), 'sanity: the live feed registry is exported')

  const table = documentedMetrics(readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8'))
  t.ok(table.length > 10, 'the table was found')
  t.same([...names].filter(n => !table.some(p => matches(p, n))).sort(), [], 'exported metrics missing from the table in docs/operations.md')
  t.same(table.filter(p => ![...names].some(n => matches(p, n))), [], 'rows of docs/operations.md naming metrics that are not exported')
})
