// The spool directory's LOCK: a second live process is refused with a coded
// error; a lock left by a dead process is taken over.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openSpool } from '../../src/spool/spool.js'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'
import { quietLogger, tempDir } from '../../../test/helper.js'

function open (dir: string) {
  const log = quietLogger()
  // a closed port: nothing is appended, so nothing is sent
  const sender = createIlpSender({ httpUrl: 'http://127.0.0.1:9', log })
  return openSpool({ dir, log, sender, segmentBytes: 1 << 20, maxBytes: 1 << 30, maxBatchBytes: 64 * 1024 })
}

t.test('a spool locked by another live process is refused with GW_ERR_SPOOL_LOCKED (409)', async t => {
  const dir = tempDir(t)
  // the parent (tap's runner) is alive and is not this process
  writeFileSync(join(dir, 'LOCK'), String(process.ppid))
  await t.rejects(open(dir), { code: 'GW_ERR_SPOOL_LOCKED', statusCode: 409, message: new RegExp(`in use by process ${process.ppid}`) })
})

t.test('a lock left by a process that is gone is taken over', async t => {
  const dir = tempDir(t)
  // beyond the kernel's pid_max: no such process
  writeFileSync(join(dir, 'LOCK'), '99999999')
  const spool = await open(dir)
  t.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), String(process.pid), 'the lock is now ours')
  await spool.close(1000)
})
