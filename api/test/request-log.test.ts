// One log line per request, the api's own (redacted), and no deprecation
// warning from Fastify at start. Its own file: Node emits a warning once per
// process, so another test's start would hide it.
import t from 'tap'
import { Writable } from 'node:stream'
import pino from 'pino'
import { tempDir, testConfig } from '../../test/helper.js'
import { createLocalLiveBus } from '../../lib/live-bus.js'
import { runApi } from '../src/main.js'

t.test('requests are logged once, by the api, and Fastify warns of nothing', async t => {
  const warnings: string[] = []
  const onWarning = (w: Error & { code?: string }): void => { warnings.push(`${w.name} ${w.code ?? ''}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const lines: Array<{ msg: string, url?: string }> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { msg: string }); cb() } })
  // QuestDB is not needed for /healthz: a closed port
  const db = { httpUrl: 'http://127.0.0.1:9', pgUrl: 'postgres://admin:quest@127.0.0.1:9/qdb' }
  const api = await runApi(testConfig(tempDir(t), db, { API_AUTH: 'off' }), pino({ level: 'info' }, sink), { questdb: db, live: createLocalLiveBus() })
  t.teardown(() => api.close())
  t.equal((await fetch(api.url + '/healthz?token=secret')).status, 200)
  await new Promise(resolve => setImmediate(resolve))
  const requestLines = lines.filter(l => l.msg === 'request completed' || l.msg === 'incoming request')
  t.same(requestLines.map(l => [l.msg, l.url]), [['request completed', '/healthz?token=[redacted]']], 'one line, the api\'s, with the token redacted')
  t.same(warnings.filter(w => w.includes('Fastify')), [], 'no Fastify warning')
})
