// Child process of spool.test.ts, started under a file-size limit (ulimit -f)
// of 1 MiB: ten small records, then one group that the limit cuts part-way
// (a short write, then EFBIG, as a full disk does with ENOSPC), then ten more
// small records. Prints what became of each, and waits to be killed.
import { pino } from 'pino'
import { openSpool } from '../../src/spool/spool.js'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'

// the limit's signal would end the process; handled, the write fails with EFBIG instead
process.on('SIGXFSZ', () => {})
const [dir, url] = process.argv.slice(2) as [string, string]
const log = pino({ level: 'silent' })
const spool = await openSpool({ dir, log, sender: createIlpSender({ httpUrl: url, log, backoffMinMs: 10, backoffMaxMs: 50 }), segmentBytes: 16 << 20, maxBytes: 1 << 30, maxBatchBytes: 64 * 1024 })
const line = (i: number): Buffer => Buffer.from(`readings,vehicle_id=vok seq=${i}i ${1700000000000000000 + i}\n`)
for (let i = 0; i < 10; i++) await spool.append(line(i))
let refused = ''
await spool.append(Buffer.alloc((1 << 20) + 4096, 'x')).catch((err: NodeJS.ErrnoException) => { refused = err.code ?? err.message })
let after = 0
for (let i = 10; i < 20; i++) await spool.append(line(i)).then(() => { after++ }, () => {})
process.stdout.write(JSON.stringify({ refused, after }) + '\n')
setInterval(() => {}, 1000)
