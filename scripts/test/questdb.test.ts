import t from 'tap'
import { readFileSync } from 'node:fs'
import { choose, findJdks, pinnedVersion, startQuestDb, isReady } from '../questdb.js'
import { generateTypes } from '../gen-types.js'
import { tempDir } from '../../test/helper.js'

t.test('picks the newest pinned release the JDKs here can run', async t => {
  const jdk = (major: number) => ({ home: `/jdk${major}`, java: `/jdk${major}/bin/java`, major })
  t.equal(choose([jdk(17)]).release.version, pinnedVersion())
  t.equal(choose([jdk(17), jdk(25)]).jdk.major, 17, 'the oldest JDK that runs it')
  t.throws(() => choose([jdk(11)]), /no JDK found/)
  t.ok(findJdks().length > 0, 'this machine has a JDK')
})

t.test('docker-compose uses the pinned version', async t => {
  const compose = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')
  t.match(compose, new RegExp(`image: questdb/questdb:${pinnedVersion().replace(/\./g, '\\.')}\\b`))
})

t.test('schemas/types.ts is generated from the schemas', async t => {
  t.equal(readFileSync(new URL('../../schemas/types.ts', import.meta.url), 'utf8'), await generateTypes())
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
