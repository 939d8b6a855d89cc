// deploy/: the HAProxy configuration is checked by HAProxy itself (Debian's
// haproxy -c), and the scale-out Compose file statically, as docker.test.ts
// does for docker-compose.yml: Redis, two gateway nodes with a spool each,
// api nodes, HAProxy sending MQTT to the gateways and HTTP to the apis.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { loadConfig } from '../schemas/config.js'

const root = new URL('../', import.meta.url)
const HAPROXY = process.env.HAPROXY ?? '/usr/sbin/haproxy'
const cfgPath = fileURLToPath(new URL('deploy/haproxy.cfg', root))
const shipped = readFileSync(cfgPath, 'utf8')
/** The config as Compose runs it: each "${VAR-default}" (HAProxy's syntax) replaced by its default. */
const cfg = shipped.replace(/"\$\{[A-Z0-9_]+-([^}"]*)\}"/g, '$1')

interface Service { image?: string, build?: string, command?: string[], environment?: Record<string, string>, stop_grace_period?: string, volumes?: string[], ports?: string[], depends_on?: unknown }
const compose = parse(readFileSync(new URL('deploy/docker-compose.scale-out.yml', root), 'utf8'), { merge: true }) as { services: Record<string, Service> }
const main = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as { services: Record<string, Service> }

/** `server` lines of a backend: name, host, port, and the check port if any. */
function servers (backend: string): Array<{ host: string, port: number, checkPort: number | null }> {
  const section = cfg.split(/^backend /m).find(s => s.startsWith(backend + '\n')) ?? ''
  return [...section.matchAll(/^\s+server \S+ ([^:\s]+):(\d+)(.*)$/gm)].map(m => ({ host: m[1] as string, port: Number(m[2]), checkPort: /\bport (\d+)/.exec(m[3] as string) ? Number(/\bport (\d+)/.exec(m[3] as string)?.[1]) : null }))
}

t.test('haproxy -c accepts deploy/haproxy.cfg', async t => {
  const r = spawnSync(HAPROXY, ['-c', '-f', cfgPath], { encoding: 'utf8', timeout: 10000 })
  t.equal(r.status, 0, `haproxy -c exit status (${r.stderr.trim().split('\n').slice(-1)[0] ?? ''})`)
  t.match(r.stdout + r.stderr, /Configuration file is valid/)
  // outside Compose the service names do not resolve; nothing else may warn
  const warnings = (r.stdout + r.stderr).split('\n').filter(l => l.includes('[WARNING]') && !/could not resolve address/.test(l))
  t.same(warnings, [], 'no warning but unresolvable service names')
  t.match(cfg, /frontend mqtt\n\s+mode tcp\n\s+bind :1883/, 'MQTT in TCP mode on 1883')
  t.match(cfg, /frontend http\n\s+mode http\n\s+bind :3000/, 'HTTP on 3000')
})

t.test('deploy/haproxy.cfg takes its addresses from the environment, each with a default', async t => {
  const directives = shipped.split('\n').filter(l => !l.trim().startsWith('#')).join('\n')
  const vars = [...directives.matchAll(/\$\{([A-Z0-9_]+)(-[^}]*)?\}/g)]
  t.ok(vars.length >= 8, `binds, gateways, check ports and apis are variables (${vars.map(m => m[1]).join(', ')})`)
  t.same(vars.filter(m => m[2] === undefined).map(m => m[1]), [], 'every variable has a default (Compose sets none)')
  const env = { FLEETGATE_MQTT_BIND: '127.0.0.1:18830', FLEETGATE_HTTP_BIND: '127.0.0.1:13000', GATEWAY1_MQTT: '127.0.0.1:18831', GATEWAY1_CHECK_PORT: '19101', GATEWAY2_MQTT: '127.0.0.1:18832', GATEWAY2_CHECK_PORT: '19102', API1_HTTP: '127.0.0.1:13001', API2_HTTP: '127.0.0.1:13002' }
  const r = spawnSync(HAPROXY, ['-c', '-f', cfgPath], { encoding: 'utf8', timeout: 10000, env: { ...process.env, ...env } })
  t.equal(r.status, 0, `haproxy -c with loopback addresses (${r.stderr.trim().split('\n').slice(-1)[0] ?? ''})`)
  t.same((r.stdout + r.stderr).split('\n').filter(l => l.includes('[WARNING]')), [], 'no warning: every address resolves')
})

t.test('the scale-out Compose file runs Redis, two gateways, the apis and HAProxy as the HAProxy config expects', async t => {
  const s = compose.services
  const defaults = loadConfig({})
  t.ok(s.redis?.image?.startsWith('redis:'), 'a Redis service')
  t.equal(s.questdb?.image, main.services.questdb?.image, 'the same QuestDB as docker-compose.yml')
  const gateways = Object.entries(s).filter(([, v]) => v.command?.includes('gateway'))
  const apis = Object.entries(s).filter(([, v]) => v.command?.includes('api'))
  t.equal(gateways.length, 2, 'two gateway nodes')
  t.ok(apis.length >= 1, 'api nodes')
  for (const [name, v] of [...gateways, ...apis]) {
    const env = v.environment ?? {}
    t.equal(env.REDIS_URL, 'redis://redis:6379', `${name}: REDIS_URL names the redis service`)
    t.ok(env.NODE_ID, `${name}: a NODE_ID`)
    t.ok(loadConfig(env), `${name}: its environment is a valid configuration`)
    const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS ?? defaults.SHUTDOWN_TIMEOUT_MS)
    t.ok(Number(/^(\d+)s$/.exec(v.stop_grace_period ?? '')?.[1]) * 1000 > shutdownMs, `${name}: Compose waits longer than it drains`)
  }
  const spools = gateways.map(([, v]) => v.environment?.SPOOL_DIR)
  t.ok(spools.every(Boolean) && new Set(spools).size === 2, `each gateway has a spool of its own (${spools.join(', ')})`)
  t.equal(new Set([...gateways, ...apis].map(([, v]) => v.environment?.NODE_ID)).size, gateways.length + apis.length, 'node ids differ')

  // HAProxy's servers are these services, on the ports they listen on
  const mqttServers = servers('gateways')
  t.same(mqttServers.map(x => x.host).sort(), gateways.map(([n]) => n).sort(), 'the MQTT backend lists the gateway services')
  for (const sv of mqttServers) {
    const env = s[sv.host]?.environment ?? {}
    const c = loadConfig(env)
    t.equal(sv.port, c.MQTT_PORT, `${sv.host}: its MQTT port`)
    t.equal(sv.checkPort, c.GATEWAY_HTTP_PORT, `${sv.host}: checked on its /readyz port`)
  }
  const httpServers = servers('apis')
  t.same(httpServers.map(x => x.host).sort(), apis.map(([n]) => n).sort(), 'the HTTP backend lists the api services')
  for (const sv of httpServers) t.equal(sv.port, loadConfig(s[sv.host]?.environment ?? {}).HTTP_PORT, `${sv.host}: its HTTP port`)
  t.ok(s.haproxy?.volumes?.some(v => v.startsWith('./haproxy.cfg:')), 'HAProxy runs deploy/haproxy.cfg')
  t.same(s.haproxy?.ports?.sort(), ['1883:1883', '3000:3000'], 'HAProxy publishes MQTT and HTTP')
})
