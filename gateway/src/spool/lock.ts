// One process per spool directory: two writers would interleave segments and
// each replay the other's records. The LOCK file holds the owner's pid; a lock
// whose process is gone is stale and taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { GW_ERR_SPOOL_LOCKED } from '../errors.js'

/** Takes the directory's lock; returns its release. */
export function acquireLock (dir: string, log: Logger): () => void {
  const file = join(dir, 'LOCK')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => { try { unlinkSync(file) } catch {} }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number(readFileSync(file, 'utf8'))
      let alive = false
      try { process.kill(pid, 0); alive = true } catch {}
      // our own pid: an instance of this process that did not close (a crash in a test)
      if (alive && pid !== process.pid) throw new GW_ERR_SPOOL_LOCKED(dir, `in use by process ${pid}`)
      log.warn({ pid }, 'removing stale spool lock')
      unlinkSync(file)
    }
  }
  throw new GW_ERR_SPOOL_LOCKED(dir, 'still locked after a stale LOCK was removed')
}
