// The managed QuestDB's command line (the instance itself: lib/questdb/managed.ts).
//
//   tsx scripts/questdb.ts fetch            fetch the jar (idempotent)
//   tsx scripts/questdb.ts start [root]     run one in the foreground until Ctrl-C
//   tsx scripts/questdb.ts version          print the pinned release
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { choose, ensureJar, pinnedVersion, startQuestDb, type LogFn } from '../lib/questdb/managed.js'

const projectRoot = fileURLToPath(new URL('..', import.meta.url))

async function cli (): Promise<void> {
  const [cmd, arg] = process.argv.slice(2)
  const log: LogFn = (msg, data) => console.log(JSON.stringify({ msg, ...data }))
  if (cmd === 'fetch') {
    const { release, jdk } = choose()
    const jar = await ensureJar(release.version, log)
    log('questdb jar ready', { version: release.version, java: jdk.major, jar })
  } else if (cmd === 'start') {
    const db = await startQuestDb({ root: arg ?? join(projectRoot, 'data', 'questdb'), log })
    const stop = (): void => { void db.stop().then(() => process.exit(0)) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    await db.exited
  } else if (cmd === 'version') {
    console.log(pinnedVersion())
  } else {
    console.error('usage: tsx scripts/questdb.ts fetch | start [root] | version')
    process.exit(2)
  }
}

cli().catch(err => { console.error(err); process.exit(1) })
