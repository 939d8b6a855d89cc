// The spool against a real HTTP server that answers like QuestDB's /write,
// so that outages and refusals can be provoked at the wire.
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { openSpool, scanSegment, segName, SEG_RE, type SpoolOptions } from '../../src/spool/spool.js'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'
import { busy, quietLogger, tempDir } from '../../../test/helper.js'
import { line } from './records-helper.js'

interface FakeQuestDb { url: string, lines: string[], mode: 'ok' | 'down' | 'refuse-poison', requests: number, server: Server }

async function fakeQuestDb (t: Test): Promise<FakeQuestDb> {
  const fake: FakeQuestDb = { url: '', lines: [], mode: 'ok', requests: 0, server: null as unknown as Server }
  fake.server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', d => parts.push(d))
    req.on('end', () => {
      fake.requests++
      const body = Buffer.concat(parts).toString()
      if (fake.mode === 'down') { res.writeHead(503).end('{"message":"down"}'); return }
      if (fake.mode === 'refuse-poison' && body.includes('POISON')) { res.writeHead(400).end('{"message":"bad line"}'); return }
      fake.lines.push(...body.split('\n').filter(Boolean))
      res.writeHead(204).end()
    })
  })
  await new Promise<void>(resolve => fake.server.listen(0, '127.0.0.1', resolve))
  fake.url = `http://127.0.0.1:${(fake.server.address() as { port: number }).port}`
  t.teardown(() => new Promise<void>(resolve => { fake.server.closeAllConnections(); fake.server.close(() => resolve()) }))
  return fake
}

async function until (check: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

type Extra = Partial<Pick<SpoolOptions, 'maxBytes' | 'segmentBytes' | 'maxBatchBytes' | 'lingerMs' | 'maxGroupMs' | 'onWrite'>> & { onPoison?: (c: Buffer) => void }

function spoolFor (dir: string, url: string, extra: Extra = {}) {
  const log = quietLogger()
  const { onPoison, ...opts } = extra
  const sender = createIlpSender({ httpUrl: url, log, backoffMinMs: 10, backoffMaxMs: 50, ...(onPoison ? { onPoison } : {}) })
  return openSpool({ dir, log, sender, segmentBytes: 1 << 20, maxBytes: 1 << 30, maxBatchBytes: 64 * 1024, ...opts })
}

function segFiles (dir: string): string[] {
  return readdirSync(dir).filter(n => SEG_RE.test(n)).sort()
}

t.test('group commit: many appends share few fsyncs; all arrive in order', async t => {
  const fake = await fakeQuestDb(t)
  const spool = await spoolFor(tempDir(t), fake.url)
  await Promise.all(Array.from({ length: 2000 }, (_, i) => spool.append(line(i))))
  const s = spool.stats()
  t.equal(s.appendedRecords, 2000)
  t.ok(s.fsyncs < 200, `${s.fsyncs} fsyncs for 2000 appends`)
  await until(() => fake.lines.length === 2000, 'all lines')
  t.same(fake.lines.map(l => Number(/seq=(\d+)i/.exec(l)?.[1])), Array.from({ length: 2000 }, (_, i) => i), 'in order, once')
  await spool.close(5000)
})

t.test('the group is written in the turn that appended it: durable before the next timer', async t => {
  const fake = await fakeQuestDb(t)
  const writes: Array<{ seconds: number, bytes: number, records: number }> = []
  // (a turn shorter than maxGroupMs, whatever the machine's load)
  const spool = await spoolFor(tempDir(t), fake.url, { maxGroupMs: 10000, onWrite: w => writes.push(w) })
  let timerFired = false
  setTimeout(() => { timerFired = true }, 0)
  const receipts = await Promise.all(Array.from({ length: 100 }, (_, i) => spool.append(line(i))))
  t.equal(receipts.length, 100)
  t.equal(spool.stats().fsyncs, 1, 'one write for the turn')
  t.notOk(timerFired, 'resolved in the check phase of the appending turn, no thread-pool round trip')
  t.equal(writes.length, 1, 'onWrite once per group')
  t.equal(writes[0]?.records, 100)
  t.equal(writes[0]?.bytes, receipts.at(-1)?.lsn, 'bytes of the group, headers included')
  t.ok((writes[0]?.seconds ?? -1) >= 0, 'its duration')
  await spool.close(5000)
})

t.test('a turn longer than maxGroupMs: the group is written once its first append is that old', async t => {
  const fake = await fakeQuestDb(t)
  const writes: Array<{ records: number }> = []
  // (200 ms: two appends in a row are never that far apart, even on a loaded machine)
  const spool = await spoolFor(tempDir(t), fake.url, { maxGroupMs: 200, onWrite: w => writes.push(w) })
  const acked: number[] = []
  const append = (i: number): Promise<void> => spool.append(line(i)).then(() => { acked.push(i) })
  const done = [append(0), append(1)]
  t.equal(writes.length, 0, 'a young group waits for the end of the turn')
  busy(250)
  done.push(append(2))
  t.same(writes.map(w => w.records), [3], 'written in the middle of the turn, with the append that found it old')
  done.push(append(3))
  await Promise.resolve()
  t.same(acked, [0, 1, 2], 'acknowledged before the turn ends')
  await Promise.all(done)
  t.same(writes.map(w => w.records), [3, 1], 'the rest at the end of the turn')
  await until(() => fake.lines.length === 4, 'all lines')
  t.same(fake.lines, [0, 1, 2, 3].map(i => line(i).toString().trimEnd()), 'in order, once')
  await spool.close(5000)
})

t.test('linger: small batches wait lingerMs between requests, a full batch does not wait', async t => {
  const fake = await fakeQuestDb(t)
  const spool = await spoolFor(tempDir(t), fake.url, { lingerMs: 300 })
  // 40 appends over ~400 ms: without the linger each is its own request
  const confirmations: Array<Promise<void>> = []
  for (let i = 0; i < 40; i++) {
    confirmations.push((await spool.append(line(i))).confirmed)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  await Promise.all(confirmations)
  t.ok(fake.requests <= 4, `${fake.requests} requests for 40 appends 10 ms apart`)
  t.equal(new Set(fake.lines).size, 40)
  await spool.close(5000)

  // a linger far longer than the test: whole batches are sent back to back
  const fake2 = await fakeQuestDb(t)
  const spool2 = await spoolFor(tempDir(t), fake2.url, { lingerMs: 600000, maxBatchBytes: 1024 })
  const receipts = await Promise.all(Array.from({ length: 400 }, (_, i) => spool2.append(line(i))))
  await until(() => fake2.lines.length >= 300, 'full batches sent without lingering', 10000)
  t.ok(fake2.requests >= 10, `${fake2.requests} requests of at most 1 KiB`)
  // the last, partial batch goes when the spool closes
  await spool2.close(5000)
  t.equal(new Set(fake2.lines).size, 400, 'the rest on close')
  t.equal(receipts.length, 400)
})

t.test('QuestDB down: appends stay durable, nothing is lost, the backlog drains when it returns', async t => {
  const fake = await fakeQuestDb(t)
  fake.mode = 'down'
  const spool = await spoolFor(tempDir(t), fake.url, { segmentBytes: 4096 })
  const confirmations = []
  for (let i = 0; i < 500; i++) confirmations.push((await spool.append(line(i))).confirmed)
  await until(() => fake.requests >= 3, 'failed attempts')
  t.equal(fake.lines.length, 0)
  t.ok(spool.stats().segments > 1, 'segments rotate')
  fake.mode = 'ok'
  await Promise.all(confirmations)
  t.equal(new Set(fake.lines).size, 500, 'every line once')
  await until(() => spool.stats().segments === 1, 'confirmed segments deleted')
  await spool.close(5000)
})

t.test('confirmations asked for late and out of order still resolve, each only once QuestDB has its record', async t => {
  const fake = await fakeQuestDb(t)
  fake.mode = 'down'
  const spool = await spoolFor(tempDir(t), fake.url)
  const receipts = await Promise.all(Array.from({ length: 300 }, (_, i) => spool.append(line(i))))
  t.ok(receipts.every((r, i) => i === 0 || r.lsn > (receipts[i - 1] as typeof r).lsn), 'lsn grows with append order')
  let settled = 0
  // asked for in reverse order, after the appends were durable
  const confirmations = receipts.slice().reverse().map(r => r.confirmed.then(() => { settled++ }))
  t.equal(receipts[7]?.confirmed, receipts[7]?.confirmed, 'one promise per record')
  await until(() => fake.requests >= 2, 'failed attempts')
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(settled, 0, 'nothing confirmed while QuestDB refuses')
  fake.mode = 'ok'
  await Promise.all(confirmations)
  t.equal(settled, 300)
  t.equal(new Set(fake.lines).size, 300, 'every line once')
  await (receipts[0] as { confirmed: Promise<void> }).confirmed
  await spool.close(5000)
})

t.test('a crash (kill -9) leaves the unconfirmed tail, which the next open replays; a torn record is cut', async t => {
  const fake = await fakeQuestDb(t)
  const dir = tempDir(t)
  fake.mode = 'down'
  // the first spool lives in a child process that is killed with SIGKILL
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./spool-crash-helper.ts', import.meta.url)), dir, fake.url, '300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('appended')) resolve() })
    child.once('exit', code => reject(new Error(`child exited with ${code}`)))
  })
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  // and a half-written record at the tail, as a crash in the middle of a write leaves
  const segs = segFiles(dir)
  appendFileSync(join(dir, segs[segs.length - 1] as string), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 65, 66]))
  fake.mode = 'ok'
  const second = await spoolFor(dir, fake.url, { segmentBytes: 2048 })
  await until(() => new Set(fake.lines).size === 300, 'replayed lines')
  t.equal(new Set(fake.lines).size, 300, 'all 300 acknowledged lines reached QuestDB')
  t.notOk(fake.lines.some(l => l.includes('AB')), 'the torn record was not sent')
  await second.close(5000)
})

t.test('a write cut short (disk full) leaves nothing in the way: later records are written and read at their place', async t => {
  const fake = await fakeQuestDb(t)
  // ulimit -f: a write past 1 MiB is cut short, then fails with EFBIG, as a full disk cuts it with ENOSPC
  const helper = fileURLToPath(new URL('./spool-disk-full-helper.ts', import.meta.url))
  const child = spawn('bash', ['-c', 'ulimit -f 1024 && exec "$0" "$@"', process.execPath, '--import', 'tsx', helper, tempDir(t), fake.url], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const report = await new Promise<{ refused: string, after: number }>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(JSON.parse(out) as { refused: string, after: number }) })
    child.once('exit', (code, sig) => reject(new Error(`child exited with ${code} ${sig}`)))
  })
  t.equal(report.refused, 'EFBIG', 'the group past the limit was refused')
  t.equal(report.after, 10, 'the ten records after it were written')
  await until(() => fake.lines.length >= 20, 'the 20 records')
  t.same(fake.lines, Array.from({ length: 20 }, (_, i) => line(i).toString().trimEnd()), 'each exactly as appended, in order, and nothing of the refused group')
})

t.test('past its bound the spool withholds (backpressure) instead of dropping', async t => {
  const fake = await fakeQuestDb(t)
  fake.mode = 'down'
  const spool = await spoolFor(tempDir(t), fake.url, { maxBytes: 2000 })
  let appended = 0
  for (let i = 0; i < 200 && !spool.full(); i++) {
    await Promise.race([spool.append(line(i)).then(() => { appended++ }), until(() => spool.full(), 'full', 1000).catch(() => {})])
  }
  t.ok(spool.full(), 'the spool reports it is full')
  t.ok(appended > 10 && appended < 60, `${appended} appended before the bound of 2000 bytes`)
  const blocked = spool.append(line(999))
  let done = false
  void blocked.then(() => { done = true })
  await until(() => fake.requests >= 3, 'more failed attempts')
  t.notOk(done, 'an append past the bound waits')
  fake.mode = 'ok'
  await blocked
  t.ok(done, 'and completes once QuestDB drains the backlog')
  await until(() => fake.lines.some(l => l.includes('seq=999i')), 'the late line')
  await spool.close(5000)
})

t.test('lines QuestDB refuses are isolated; the rest of the batch is written', async t => {
  const fake = await fakeQuestDb(t)
  fake.mode = 'refuse-poison'
  const poisoned: string[] = []
  const spool = await spoolFor(tempDir(t), fake.url, { onPoison: c => poisoned.push(c.toString()) })
  const all = []
  for (let i = 0; i < 50; i++) all.push((await spool.append(line(i, i === 17 ? 'POISON' : 'ok'))).confirmed)
  await Promise.all(all)
  t.equal(fake.lines.length, 49)
  t.equal(poisoned.length, 1)
  t.match(poisoned[0], /POISON seq=17i/)
  await spool.close(5000)
})

t.test('one batch bisected around a refused line: every other line arrives whole, in order, without record headers', async t => {
  const fake = await fakeQuestDb(t)
  fake.mode = 'refuse-poison'
  const poisoned: string[] = []
  // a linger longer than the appends take: the 50 records go out as one batch
  const spool = await spoolFor(tempDir(t), fake.url, { lingerMs: 200, onPoison: c => poisoned.push(c.toString()) })
  const receipts = await Promise.all(Array.from({ length: 50 }, (_, i) => spool.append(line(i, i === 37 ? 'POISON' : 'ok'))))
  await Promise.all(receipts.map(r => r.confirmed))
  const expected = Array.from({ length: 50 }, (_, i) => i).filter(i => i !== 37).map(i => line(i).toString().trimEnd())
  t.same(fake.lines, expected, 'the 49 other lines, each exactly as appended')
  t.same(poisoned, [line(37, 'POISON').toString()], 'the refused record alone, exactly as appended')
  // [0,50) no, [0,25) yes, [25,50) no, [25,37) yes, [37,50) no, [37,43) no,
  // [37,40) no, [37,38) poison, [38,40) [40,43) [43,50) yes
  t.equal(fake.requests, 11, 'one batch of 50, bisected down to the refused record')
  await spool.close(5000)
})

t.test('close drains within its bound and keeps the rest for the next start', async t => {
  const fake = await fakeQuestDb(t)
  const dir = tempDir(t)
  fake.mode = 'down'
  const spool = await spoolFor(dir, fake.url)
  for (let i = 0; i < 10; i++) await spool.append(line(i))
  const t0 = Date.now()
  await spool.close(300)
  t.ok(Date.now() - t0 < 5000, 'close returns')
  await t.rejects(spool.append(line(11)), { code: 'GW_ERR_SPOOL_CLOSED' })
  fake.mode = 'ok'
  const again = await spoolFor(dir, fake.url)
  await until(() => fake.lines.length === 10, 'replay')
  t.equal(fake.lines.length, 10)
  await again.close(5000)
})

t.test('the next segment is prepared ahead (zeros, synced) and taken at rotation; its zeros are not records', async t => {
  const fake = await fakeQuestDb(t)
  const dir = tempDir(t)
  fake.mode = 'down'
  const segmentBytes = 4096
  const spool = await spoolFor(dir, fake.url, { segmentBytes })
  await until(() => spool.stats().nextPrepared, 'the next segment prepared')
  t.ok(readFileSync(join(dir, 'next-segment.tmp')).equals(Buffer.alloc(segmentBytes)), 'the prepared file: segmentBytes of zeros')
  let n = 0
  while (spool.stats().segments < 2) await spool.append(line(n++))
  t.equal(spool.stats().preparedSegments, 1, 'the second segment is the prepared file')
  const second = join(dir, segFiles(dir)[1] as string)
  t.equal(statSync(second).size, segmentBytes, 'at its full size before any record')
  let bytes = 0
  for (let k = 0; k < 5; k++) { bytes += 8 + line(n).length; await spool.append(line(n++)) }
  t.equal(statSync(second).size, segmentBytes, 'its records are written over the zeros, the file does not grow')
  const scan = scanSegment(second)
  t.same({ records: scan.records, valid: scan.valid, zeroTail: scan.zeroTail }, { records: 5, valid: bytes, zeroTail: true }, 'five records, then zeros that are not records')
  await spool.close(50)
  t.notOk(existsSync(join(dir, 'next-segment.tmp')), 'close leaves no prepared file')
  fake.mode = 'ok'
  const again = await spoolFor(dir, fake.url, { segmentBytes })
  // before the replay is confirmed, which deletes the segment
  t.equal(statSync(second).size, bytes, 'at the next open the unused zeros were cut off')
  await until(() => fake.lines.length >= n, 'replay')
  t.same(fake.lines, Array.from({ length: n }, (_, i) => line(i).toString().trimEnd()), 'after a restart every record once, in order')
  await again.close(5000)
})

t.test('a prepared file left by a crash holds no records: open removes it, and an empty record is refused', async t => {
  const fake = await fakeQuestDb(t)
  const dir = tempDir(t)
  // even one that looks like a record is never replayed
  const rec = line(999)
  const head = Buffer.alloc(8)
  head.writeUInt32LE(rec.length, 0)
  head.writeUInt32LE(crc32(rec), 4)
  writeFileSync(join(dir, 'next-segment.tmp'), Buffer.concat([head, rec]))
  const spool = await spoolFor(dir, fake.url, { segmentBytes: 4096 })
  await until(() => spool.stats().nextPrepared, 'the next segment prepared')
  t.ok(readFileSync(join(dir, 'next-segment.tmp')).equals(Buffer.alloc(4096)), 'prepared anew')
  await t.rejects(spool.append(Buffer.alloc(0)), RangeError, 'a zero length would end the segment\'s data')
  await spool.append(line(1))
  await until(() => fake.lines.length >= 1, 'the line')
  await spool.close(5000)
  t.same(fake.lines, [line(1).toString().trimEnd()], 'only what was appended reached QuestDB')
})

t.test('confirmed segments are deleted and the checkpoint written off the event loop; close waits for both', async t => {
  const fake = await fakeQuestDb(t)
  const dir = tempDir(t)
  const spool = await spoolFor(dir, fake.url, { segmentBytes: 4096, maxBatchBytes: 1024 })
  const n = 600
  for (let i = 0; i < n; i++) await spool.append(line(i))
  await until(() => fake.lines.length >= n, 'all lines')
  t.ok(spool.stats().preparedSegments > 0, 'segments rotated')
  await spool.close(5000)
  const cp = JSON.parse(readFileSync(join(dir, 'confirmed.json'), 'utf8')) as { seq: number, offset: number }
  t.ok(cp.seq > 1, `the checkpoint names the last segment read (${cp.seq}), not the first`)
  t.same(segFiles(dir), [segName(cp.seq)], 'when close returns, only that segment is left: the confirmed ones are deleted')
  const again = await spoolFor(dir, fake.url, { segmentBytes: 4096 })
  await again.append(line(n))
  await until(() => fake.lines.length >= n + 1, 'the next line')
  await again.close(5000)
  t.equal(fake.lines.length, n + 1, 'nothing replayed')
})
