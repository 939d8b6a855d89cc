// Child process of spool.test.ts: appends N records to a spool whose QuestDB
// is down, says so, and waits to be killed with SIGKILL.
import { childSpool, line } from './records-helper.js'

const [dir, url, n] = process.argv.slice(2) as [string, string, string]
const spool = await childSpool(dir, url, 2048)
for (let i = 0; i < Number(n); i++) await spool.append(line(i))
process.stdout.write('appended\n')
setInterval(() => {}, 1000)
