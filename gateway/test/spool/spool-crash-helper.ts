// Child process of spool.test.ts: appends N records to a spool whose QuestDB
// is down, says so, and waits to be killed with SIGKILL.
import { pino } from 'pino'
import { openSpool } from '../../src/spool/spool.js'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'

const [dir, url, n] = process.argv.slice(2) as [string, string, string]
const log = pino({ level: 'silent' })
const spool = await openSpool({ dir, log, sender: createIlpSender({ httpUrl: url, log, backoffMinMs: 10, backoffMaxMs: 50 }), segmentBytes: 2048, maxBytes: 1 << 30, maxBatchBytes: 64 * 1024 })
for (let i = 0; i < Number(n); i++) await spool.append(Buffer.from(`readings,vehicle_id=vok seq=${i}i ${1700000000000000000 + i}\n`))
process.stdout.write('appended\n')
setInterval(() => {}, 1000)
