// The operators' CLI as they run it (a child process): one-line errors, exit
// status 0 done / 1 failed / 2 wrong usage, never a stack trace.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { tempDir, startQuestDbForTest } from '../../test/helper.js'
import { openApiKeyStore } from '../../api/src/api-keys.js'
import { openDeviceRegistry } from '../../gateway/src/index.js'

const cli = fileURLToPath(new URL('../cli.ts', import.meta.url))

interface Run { status: number | null, stdout: string, stderr: string }

function run (env: Record<string, string>, ...args: string[]): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { env: { ...process.env, LOG_LEVEL: 'error', ...env }, encoding: 'utf8', timeout: 60000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A long-running command (start, gateway): its exit status and output; killed at teardown if still running. */
function runLong (t: Test, env: Record<string, string>, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { env: { ...process.env, LOG_LEVEL: 'error', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += d })
  child.stderr.on('data', d => { stderr += d })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return new Promise(resolve => child.on('exit', status => resolve({ status, stdout, stderr })))
}

function oneLine (t: Test, r: Run, pattern: RegExp, status: number): void {
  t.equal(r.status, status, `exit status ${status}`)
  const lines = r.stderr.split('\n').filter(Boolean)
  t.equal(lines.length, 1, 'one line on stderr', { stderr: r.stderr })
  t.match(lines[0], pattern)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
}

async function occupy (t: Test): Promise<number> {
  const server: Server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

t.test('token and revoke', async t => {
  const env = { DATA_DIR: tempDir(t) }
  oneLine(t, run(env, 'revoke', 'no-such-vehicle'), /^fleetgate: vehicle no-such-vehicle holds no token \(never issued, or already revoked\); nothing changed$/, 1)
  oneLine(t, run(env, 'revoke', 'bad id!'), /^fleetgate: invalid vehicle id "bad id!"/, 2)
  oneLine(t, run(env, 'token', '../etc/passwd'), /^fleetgate: invalid vehicle id/, 2)
  oneLine(t, run(env, 'token'), /^fleetgate: usage: fleetgate token <vehicleId>$/, 2)

  const issued = run(env, 'token', 'truck-7')
  t.equal(issued.status, 0)
  const token = issued.stdout.trim()
  t.ok(openDeviceRegistry(env.DATA_DIR).verify('truck-7', token), 'the printed token verifies')
  const revoked = run(env, 'revoke', 'truck-7')
  t.equal(revoked.status, 0)
  t.equal(revoked.stdout, 'revoked truck-7\n')
  t.notOk(openDeviceRegistry(env.DATA_DIR).verify('truck-7', token))
  oneLine(t, run(env, 'revoke', 'truck-7'), /holds no token/, 1)
})

t.test('devices list', async t => {
  const env = { DATA_DIR: tempDir(t) }
  t.equal(run(env, 'devices', 'list').stdout, 'vehicle_id\tstatus\tissued_at\trevoked_at\n', 'an empty registry: the header only')
  for (const id of ['b-2', 'a-1', 'c-3']) run(env, 'token', id)
  run(env, 'revoke', 'c-3')
  const rows = (args: string[]): string[][] => run(env, 'devices', 'list', ...args).stdout.trim().split('\n').slice(1).map(l => l.split('\t'))
  t.same(rows([]).map(r => [r[0], r[1], r[3]]), [['a-1', 'active', '-'], ['b-2', 'active', '-']])
  t.same(rows(['--revoked']).map(r => [r[0], r[1]]), [['c-3', 'revoked']])
  t.same(rows(['--all']).map(r => r[0]), ['a-1', 'b-2', 'c-3'])
  oneLine(t, run(env, 'devices'), /^fleetgate: usage: fleetgate devices list/, 2)
  oneLine(t, run(env, 'devices', 'list', '--everything'), /^fleetgate: usage: fleetgate devices list/, 2)
})

t.test('apikey list, rotate, revoke', async t => {
  const env = { DATA_DIR: tempDir(t) }
  const made = run(env, 'apikey', '--role', 'read', '--name', 'grafana')
  t.equal(made.status, 0)
  const key = made.stdout.trim()
  const id = openApiKeyStore(env.DATA_DIR).verify(key)?.id as string
  t.ok(id)
  const list = run(env, 'apikey', 'list')
  t.equal(list.status, 0)
  t.match(list.stdout, new RegExp(`^id\\trole\\tsource\\tcreated\\trevoked_at\\tname\\n${id}\\tread\\tfile\\t\\S+\\t-\\tgrafana\\n$`))
  t.notOk(list.stdout.includes(key))

  const rotated = run(env, 'apikey', 'rotate', id)
  t.equal(rotated.status, 0)
  const next = rotated.stdout.trim()
  t.match(rotated.stderr, `replaces ${id}`)
  const store = openApiKeyStore(env.DATA_DIR)
  t.equal(store.verify(key), null, 'the rotated key is refused')
  t.equal(store.verify(next)?.role, 'read')

  const nextId = store.verify(next)?.id as string
  t.equal(run(env, 'apikey', 'revoke', nextId).stdout, `revoked API key ${nextId}\n`)
  t.equal(openApiKeyStore(env.DATA_DIR).verify(next), null)
  oneLine(t, run(env, 'apikey', 'revoke', nextId), /^fleetgate: no active API key [0-9a-f]{12}/, 1)
  oneLine(t, run(env, 'apikey', 'revoke', 'nope'), /^fleetgate: invalid API key id "nope"/, 2)
  oneLine(t, run(env, 'apikey', 'revoke'), /^fleetgate: usage: fleetgate apikey revoke <id>$/, 2)
  t.equal(run(env, 'apikey', 'list', '--all').stdout.trim().split('\n').length, 3, 'header and both keys, revoked too')
})

t.test('a bad configuration: one line naming the variable', async t => {
  oneLine(t, run({ DATA_DIR: tempDir(t), MQTT_PORT: 'abc' }, 'gateway'), /^fleetgate: invalid configuration: .*MQTT_PORT/, 1)
})

t.test('a port in use: one line naming it and its variable, exit 1', async t => {
  const db = await startQuestDbForTest(t)
  const base = { MQTT_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', MQTT_WS_PORT: '-1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl }

  const mqttPort = await occupy(t)
  oneLine(t, await runLong(t, { ...base, DATA_DIR: tempDir(t), MQTT_PORT: String(mqttPort), GATEWAY_HTTP_PORT: '-1' }, 'gateway'), new RegExp(`^fleetgate: 127\\.0\\.0\\.1:${mqttPort} \\(MQTT_PORT\\) is already in use`), 1)

  const metricsPort = await occupy(t)
  oneLine(t, await runLong(t, { ...base, DATA_DIR: tempDir(t), MQTT_PORT: '0', GATEWAY_HTTP_PORT: String(metricsPort) }, 'gateway'), new RegExp(`^fleetgate: 127\\.0\\.0\\.1:${metricsPort} \\(GATEWAY_HTTP_PORT\\) is already in use`), 1)

  const httpPort = await occupy(t)
  oneLine(t, await runLong(t, { ...base, DATA_DIR: tempDir(t), MQTT_PORT: '0', HTTP_PORT: String(httpPort) }, 'start'), new RegExp(`^fleetgate: 127\\.0\\.0\\.1:${httpPort} \\(HTTP_PORT\\) is already in use`), 1)
})
