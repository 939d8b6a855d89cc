// Child process of spool.test.ts, started under a file-size limit (ulimit -f)
// of 1 MiB: ten small records, then one group that the limit cuts part-way
// (a short write, then EFBIG, as a full disk does with ENOSPC), then ten more
// small records. Prints what became of each, and waits to be killed.
import { childSpool, line } from './records-helper.js'

// the limit's signal would end the process; handled, the write fails with EFBIG instead
process.on('SIGXFSZ', () => {})
const [dir, url] = process.argv.slice(2) as [string, string]
const spool = await childSpool(dir, url, 16 << 20)
for (let i = 0; i < 10; i++) await spool.append(line(i))
let refused = ''
await spool.append(Buffer.alloc((1 << 20) + 4096, 'x')).catch((err: NodeJS.ErrnoException) => { refused = err.code ?? err.message })
let after = 0
for (let i = 10; i < 20; i++) await spool.append(line(i)).then(() => { after++ }, () => {})
process.stdout.write(JSON.stringify({ refused, after }) + '\n')
setInterval(() => {}, 1000)
