// The Dockerfile and docker-compose.yml, checked without a Docker engine: the
// image runs as a non-root user with a HEALTHCHECK on /readyz, Compose waits
// longer than fleetgate drains, and both health checks are run here as they
// are written (QuestDB's with bash, as its image has no curl) against real servers.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { parse } from 'yaml'
import { loadConfig } from '../schemas/config.js'
import { startQuestDbForTest, startStack } from './helper.js'

const root = new URL('../', import.meta.url)
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8')
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, { image?: string, stop_grace_period?: string, environment?: Record<string, string>, healthcheck?: { test: string[] } }>
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions (text: string): Array<{ op: string, args: string }> {
  return text.replace(/\\\n/g, ' ').split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#'))
    .map(l => { const [op = '', ...rest] = l.split(/\s+/); return { op: op.toUpperCase(), args: rest.join(' ') } })
}

/** A Compose duration (1m30s, 30s, 500ms) in milliseconds. */
function durationMs (d: string): number {
  let ms = 0
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)) ms += Number(n) * ({ h: 3600000, m: 60000, s: 1000, ms: 1, us: 0.001 }[unit as 'h'])
  return ms
}

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

const ins = instructions(dockerfile)

t.test('the fleetgate image runs as a non-root user', async t => {
  const users = ins.filter(i => i.op === 'USER')
  t.ok(users.length > 0, 'a USER instruction')
  const last = users[users.length - 1]?.args ?? ''
  t.notMatch(last, /^(root|0)(:|$)/, `runs as ${last}`)
  t.ok(ins.findIndex(i => i.op === 'USER') < ins.findIndex(i => i.op === 'CMD'), 'before the command')
  t.ok(ins.some(i => i.op === 'RUN' && /chown\s+\S*node\S*\s+\/data\b/.test(i.args)), 'DATA_DIR (/data) belongs to it')
})

t.test('the image health check asks /readyz and is run here against a real stack', async t => {
  const hc = ins.find(i => i.op === 'HEALTHCHECK')
  t.ok(hc, 'a HEALTHCHECK instruction')
  const json = /CMD\s+(\[.*\])\s*$/.exec(hc?.args ?? '')?.[1]
  t.ok(json, 'exec form')
  const argv = JSON.parse(json ?? '[]') as string[]
  t.equal(argv[0], 'node', 'node: the image has no curl')
  t.match(argv.join(' '), /\/readyz/)
  // not spawnSync: the api it asks runs in this process
  const run = async (port: number): Promise<number | null> => {
    const child = spawn(process.execPath, argv.slice(1), { env: { PATH: process.env.PATH ?? '', HTTP_PORT: String(port) }, stdio: 'inherit', timeout: 10000 })
    return await new Promise(resolve => child.on('exit', resolve))
  }

  const db = await startQuestDbForTest(t)
  const s = await startStack(t, db, { API_AUTH: 'required' })
  t.equal(await run(Number(new URL(s.httpUrl).port)), 0, 'healthy while /readyz answers 200')
  t.equal(await run(await freePort()), 1, 'unhealthy when nothing answers')

  t.test('the QuestDB health check works without curl, with bash against a real QuestDB', async t => {
    const test = compose.services.questdb?.healthcheck?.test ?? []
    t.notMatch(test.join(' '), /\b(curl|wget)\b/, 'neither curl nor wget')
    t.equal(test[0], 'CMD')
    t.equal(test[1], 'bash', 'bash: the image\'s entrypoint is a bash script')
    const port = new URL(db.httpUrl).port
    const at = (p: string): string[] => test.slice(2).map(a => a.replace('127.0.0.1/9000', `127.0.0.1/${p}`))
    t.ok(at(port).join(' ').includes(`/dev/tcp/127.0.0.1/${port}`), 'asks QuestDB\'s HTTP port (9000 in the container)')
    t.equal(spawnSync('bash', at(port), { timeout: 10000 }).status, 0, 'healthy: /ping answered 204')
    t.not(spawnSync('bash', at(String(await freePort())), { timeout: 10000 }).status, 0, 'unhealthy when nothing listens')
  })
})

t.test('Compose lets fleetgate drain before it kills it', async t => {
  const fg = compose.services.fleetgate
  t.ok(fg?.stop_grace_period, 'stop_grace_period is set (Docker\'s default is 10 s)')
  const shutdownMs = Number(fg?.environment?.SHUTDOWN_TIMEOUT_MS ?? loadConfig({}).SHUTDOWN_TIMEOUT_MS)
  t.ok(durationMs(fg?.stop_grace_period ?? '0s') > shutdownMs, `${fg?.stop_grace_period} > SHUTDOWN_TIMEOUT_MS ${shutdownMs} ms`)
})
