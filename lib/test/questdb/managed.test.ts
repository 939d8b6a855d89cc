import t from 'tap'
import { readFileSync } from 'node:fs'
import { choose, findJdks, pinnedVersion, startQuestDb, isReady, QUESTDB_TUNING, LOG_CONF } from '../../questdb/managed.js'
import { count, pollUntil, query } from '../../questdb/sql.js'
import { tempDir } from '../../../test/helper.js'

t.test('picks the newest pinned release the JDKs here can run', async t => {
  const jdk = (major: number) => ({ home: `/jdk${major}`, java: `/jdk${major}/bin/java`, major })
  t.equal(choose([jdk(17)]).release.version, pinnedVersion())
  t.equal(choose([jdk(17), jdk(25)]).jdk.major, 17, 'the oldest JDK that runs it')
  t.throws(() => choose([jdk(11)]), /no JDK found/)
  t.ok(findJdks().length > 0, 'this machine has a JDK')
})

t.test('docker-compose uses the pinned version and the same tuning', async t => {
  const compose = readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8')
  t.match(compose, new RegExp(`image: questdb/questdb:${pinnedVersion().replace(/\./g, '\\.')}\\b`))
  for (const [k, v] of Object.entries(QUESTDB_TUNING)) t.match(compose, `${k}: "${v}"`, `${k} as the managed QuestDB's`)
})

t.test('starts on free loopback ports, answers, stops and leaves no process', async t => {
  const db = await startQuestDb({ root: tempDir(t) + '/root' })
  t.match(db.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.ok(await isReady(db.httpUrl, db.pgUrl))
  await db.stop()
  t.notOk(await isReady(db.httpUrl, db.pgUrl), 'gone after stop')
  let alive = true
  try { process.kill(db.pid, 0) } catch { alive = false }
  t.notOk(alive, 'the JVM has exited')
})

t.test('the managed QuestDB idles without spinning and logs errors and advisories only', async t => {
  const db = await startQuestDb({ root: tempDir(t) + '/root' })
  t.teardown(db.stop)
  const params = await query<{ property_path: string, value: string, value_source: string }>(db.pgUrl,
    "SELECT property_path, value, value_source FROM (SHOW PARAMETERS) WHERE property_path ~ '^(shared|wal[.]apply)[.]worker[.](yield|nap|sleep)[.]threshold$'")
  const got = Object.fromEntries(params.map(p => ['QDB_' + p.property_path.toUpperCase().replace(/\./g, '_'), `${p.value} ${p.value_source}`]))
  t.same(got, Object.fromEntries(Object.entries(QUESTDB_TUNING).map(([k, v]) => [k, `${v} env`])))
  // a write, a commit and a query: each logs at INFO with QuestDB's own log.conf
  const res = await fetch(db.httpUrl + '/write', { method: 'POST', body: 'logcheck,a=x v=1i\n' })
  t.equal(res.status, 204)
  await pollUntil(async () => await count(db.pgUrl, 'SELECT count() n FROM logcheck') === 1, 30000, 'the row')
  const out = db.output()
  t.ok(out.includes(`Log configuration loaded from: ${LOG_CONF}`), 'our log.conf')
  t.match(out, /^\S+Z A server-main enjoy$/m, 'advisories are kept')
  t.notMatch(out, /^\S+Z [ID] /m, 'no INFO or DEBUG line')
})
