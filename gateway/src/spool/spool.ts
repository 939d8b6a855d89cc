// The spool: an append-only, segmented log of ILP chunks on local disk.
//
// append() resolves once the chunk is written durably; the appends of one
// event-loop turn are written together at the end of that turn (group
// commit), so the cost of reaching the disk is shared (in a turn longer than
// maxGroupMs, as soon as the group's first append is that old). A single
// drain reads records in order and sends them to QuestDB in batches through
// the IlpSender (which keeps retrying the same bytes); only after QuestDB
// answered 2xx for a batch does the confirmed position move, and a segment is
// deleted only when all of it is confirmed. After a crash the next open()
// replays what was not confirmed (duplicates are harmless: the tables DEDUP
// UPSERT).
//
// Record: u32 LE length | u32 LE crc32(payload) | payload. A record is never
// empty, so a zero length ends a segment's data: the rest of a prepared
// segment is zeros (below). A torn record at the tail of the last segment
// (crash mid-write) is cut off at open().
import { closeSync, constants, openSync, readSync, writeSync, writevSync, existsSync, readFileSync, mkdirSync, readdirSync, statSync, renameSync, writeFileSync, unlinkSync, ftruncateSync, fsyncSync, rmSync } from 'node:fs'
import { open, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from 'pino'
import { GW_ERR_SPOOL_CLOSED, GW_ERR_SPOOL_LOCKED } from '../errors.js'
import type { IlpSender } from '../questdb/ilp-sender.js'
import { turnBatch } from '../../../schemas/turn-batch.js'

const HEADER = 8
// Segments are written with O_DSYNC: a write is durable when it returns.
// The group is written synchronously, in the check phase of the turn whose
// I/O callbacks appended it (as Redis does with appendfsync always: write and
// sync in the event loop, then reply). The PUBACKs then leave in that same
// turn. Through the thread pool they waited for the completion to come back
// in a later turn, and under load a turn lasts tens of milliseconds; the
// loop is blocked instead for the write itself (0.2 to 0.7 ms for 300 B to
// 300 kB on this machine's disk, benchmarks/README.md).
//
// A group is written at the segment's data size, not appended (no O_APPEND):
// a write that failed part-way (disk full) leaves bytes past the data, and
// the next group writes over them. Appended, the next group would land after
// them, and every record after would be read at the wrong offset.
const SEGMENT_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC

// The next segment is prepared while the current one fills: written full of
// zeros and fsynced in the thread pool, then renamed into place when the
// current one is sealed. A group written over blocks that already hold data
// changes no metadata but the file's times, so its O_DSYNC write waits for
// the data alone. Appended to a growing file, every write also waited for a
// journal commit of the new size (ext4 on this machine, 12 kB groups: 0.14
// against 0.23 ms a write, benchmarks/README.md). A group larger than what is
// left of the prepared size is appended as before.
const PREPARED = 'next-segment.tmp'
const ZEROS = Buffer.alloc(1 << 20)

/** Writes `bytes` zeros to a new file at `path` and fsyncs it, off the event loop. */
async function fillWithZeros (path: string, bytes: number, stop: () => boolean): Promise<void> {
  const fh = await open(path, 'w', 0o644)
  try {
    for (let off = 0; off < bytes;) {
      if (stop()) throw new GW_ERR_SPOOL_CLOSED('while preparing a segment')
      const { bytesWritten } = await fh.write(ZEROS, 0, Math.min(ZEROS.length, bytes - off), off)
      if (bytesWritten === 0) throw new Error('no progress writing zeros')
      off += bytesWritten
    }
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Makes a directory's entries (a segment's name) durable. */
function syncDir (dir: string): void {
  const fd = openSync(dir, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

function allZero (b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - off)
    if (!b.subarray(off, off + n).equals(ZEROS.subarray(0, n))) return false
  }
  return true
}

export interface SpoolOptions {
  dir: string
  log: Logger
  sender: IlpSender
  segmentBytes: number
  maxBytes: number
  maxBatchBytes: number
  /**
   * Shortest time between the starts of two drain batches, unless a whole
   * maxBatchBytes is waiting (default 0: send as soon as anything is written).
   * Every request is a QuestDB transaction per table, and QuestDB's CPU grows
   * with their number.
   */
  lingerMs?: number
  /**
   * A group is written as soon as its first append is this old, even in the
   * middle of a turn (default 5). Under load one turn of the event loop can
   * read thousands of publishes; without a bound the first of them waited for
   * the last to be parsed before any PUBACK left.
   */
  maxGroupMs?: number
  /** After each group write, for metrics: the event loop was blocked for `seconds`. */
  onWrite?: (info: { seconds: number, bytes: number, records: number }) => void
  /** After a drain batch is confirmed, for metrics. */
  onConfirm?: (info: { bytes: number, records: number }) => void
}

export interface SpoolStats {
  /** Bytes on disk not yet confirmed by QuestDB. */
  unconfirmedBytes: number
  segments: number
  /** Age of the oldest unconfirmed record, seconds (0 when empty). */
  oldestUnconfirmedS: number
  appendedRecords: number
  confirmedRecords: number
  fsyncs: number
  /** Segments started from a prepared (zero-filled) file. */
  preparedSegments: number
  /** True while the next segment's file is prepared and waiting. */
  nextPrepared: boolean
}

/** What append() gives once a record is durable on disk. */
export interface Receipt {
  /** Log position just past the record. */
  lsn: number
  /** Resolves when QuestDB has the record (made on first access). */
  readonly confirmed: Promise<void>
}

export interface Spool {
  /** Resolves when the chunk is durable on local disk; `confirmed` when QuestDB has it. */
  append: (chunk: Buffer) => Promise<Receipt>
  stats: () => SpoolStats
  /** True while appends wait for space (backpressure). */
  full: () => boolean
  /** Stops appends, drains for at most timeoutMs, keeps the rest on disk. */
  close: (timeoutMs: number) => Promise<void>
}

interface Segment { seq: number, path: string, size: number, sealed: boolean, createdAt: number }
interface PendingAppend { chunk: Buffer, resolve: (v: Receipt) => void, reject: (e: Error) => void }
interface Waiter { lsn: number, resolve: () => void, reject: (e: Error) => void }

export const SEG_RE = /^seg-(\d{16})\.log$/

export function segName (seq: number): string {
  return `seg-${String(seq).padStart(16, '0')}.log`
}

/**
 * Scans a segment; returns the byte length of its valid prefix, the record
 * count, and whether everything past the prefix is zeros (the unwritten rest
 * of a prepared segment, not a torn record).
 */
export function scanSegment (path: string): { valid: number, records: number, size: number, zeroTail: boolean } {
  const data = readFileSync(path)
  let off = 0
  let records = 0
  while (off + HEADER <= data.length) {
    const len = data.readUInt32LE(off)
    // the end of the data: crc32 of nothing is 0, so zeros would pass the check
    if (len === 0) break
    const sum = data.readUInt32LE(off + 4)
    if (off + HEADER + len > data.length) break
    if (crc32(data.subarray(off + HEADER, off + HEADER + len)) !== sum) break
    off += HEADER + len
    records++
  }
  return { valid: off, records, size: data.length, zeroTail: allZero(data.subarray(off)) }
}

function acquireLock (dir: string, log: Logger): () => void {
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

export async function openSpool (opts: SpoolOptions): Promise<Spool> {
  const { log, sender } = opts
  mkdirSync(opts.dir, { recursive: true })
  const releaseLock = acquireLock(opts.dir, log)
  const checkpointFile = join(opts.dir, 'confirmed.json')
  const preparedPath = join(opts.dir, PREPARED)
  // never holds a record: records go only into a segment renamed and synced
  rmSync(preparedPath, { force: true })

  // --- recovery --------------------------------------------------------------
  const segments: Segment[] = []
  for (const name of readdirSync(opts.dir).sort()) {
    const m = SEG_RE.exec(name)
    if (!m) continue
    const path = join(opts.dir, name)
    const scan = scanSegment(path)
    segments.push({ seq: Number(m[1]), path, size: scan.valid, sealed: true, createdAt: statSync(path).mtimeMs })
    if (scan.valid < scan.size) {
      if (scan.zeroTail) log.debug({ segment: name, cut: scan.size - scan.valid }, 'spool: cutting the unused rest of a prepared segment')
      else log.warn({ segment: name, cut: scan.size - scan.valid }, 'spool: cutting torn tail')
      const fd = openSync(path, 'r+')
      ftruncateSync(fd, scan.valid)
      fsyncSync(fd)
      closeSync(fd)
    }
  }
  // the read position starts at the checkpoint, when it names a live segment
  let readSeg = 0
  let readOff = 0
  if (existsSync(checkpointFile)) {
    try {
      const cp = JSON.parse(readFileSync(checkpointFile, 'utf8')) as { seq: number, offset: number }
      for (const s of segments) {
        if (s.seq < cp.seq) { unlinkSync(s.path); s.size = -1 }
      }
      const idx = segments.findIndex(s => s.seq === cp.seq && s.size >= 0)
      if (idx >= 0 && cp.offset <= (segments[idx] as Segment).size) readOff = cp.offset
    } catch (err) {
      log.warn({ err }, 'spool: ignoring unreadable checkpoint')
    }
  }
  for (let i = segments.length - 1; i >= 0; i--) if ((segments[i] as Segment).size < 0) segments.splice(i, 1)
  const replayBytes = segments.reduce((n, s) => n + s.size, 0) - readOff
  if (replayBytes > 0) log.info({ bytes: replayBytes, segments: segments.length }, 'spool: replaying unconfirmed data')

  // the write segment is always a fresh one
  const nextSeq = (segments[segments.length - 1]?.seq ?? 0) + 1
  let writeFd = openSync(join(opts.dir, segName(nextSeq)), SEGMENT_FLAGS, 0o644)
  syncDir(opts.dir)
  segments.push({ seq: nextSeq, path: join(opts.dir, segName(nextSeq)), size: 0, sealed: false, createdAt: Date.now() })
  readSeg = segments.length > 0 ? (segments[0] as Segment).seq : nextSeq

  // --- state -----------------------------------------------------------------
  // lsn: bytes since this open(), counting replayed bytes first
  let appendedLsn = replayBytes
  let confirmedLsn = 0
  let unconfirmed = replayBytes
  let pending: PendingAppend[] = []
  // written at the end of the turn, or once its first append is maxGroupMs old
  const group = turnBatch(writePending, opts.maxGroupMs ?? 5)
  let closed = false
  let draining = true
  let drainWake: (() => void) | null = null
  let spaceWaiters: Array<() => void> = []
  const waiters: Waiter[] = []
  const ages: Array<{ lsn: number, at: number }> = []
  if (replayBytes > 0) ages.push({ lsn: replayBytes, at: (segments[0] as Segment).createdAt })
  const counters = { appendedRecords: 0, confirmedRecords: 0, fsyncs: 0, preparedSegments: 0 }
  let lastCheckpoint = 0

  // A confirmation promise is made only when asked for (ACK_MODE=commit):
  // in spool mode nobody waits for QuestDB per record. Waiters are kept in
  // lsn order in an array consumed from `waitHead` (Array#shift on an array of
  // 100,000 waiters cost 30 % of the gateway's CPU at 18,000 readings/s).
  let waitHead = 0
  function whenConfirmed (lsn: number): Promise<void> {
    if (lsn <= confirmedLsn) return Promise.resolve()
    if (closed && !draining) return Promise.reject(new GW_ERR_SPOOL_CLOSED('before questdb confirmed'))
    return new Promise<void>((resolve, reject) => {
      const w = { lsn, resolve, reject }
      let i = waiters.length
      // appends ask in order; an earlier lsn asked late goes to its place
      while (i > waitHead && (waiters[i - 1] as Waiter).lsn > lsn) i--
      if (i === waiters.length) waiters.push(w)
      else waiters.splice(i, 0, w)
    })
  }
  function receipt (lsn: number): Receipt {
    let p: Promise<void> | undefined
    return {
      lsn,
      get confirmed () {
        if (p === undefined) { p = whenConfirmed(lsn); p.catch(() => {}) }
        return p
      }
    }
  }

  function wakeDrain (): void {
    if (drainWake) { const w = drainWake; drainWake = null; w() }
  }
  // the linger's sleep, cut short only by close()
  let lingerWake: (() => void) | null = null

  // --- append with group commit -------------------------------------------------
  function writePending (): void {
    if (pending.length === 0) return
    const batch = pending
    pending = []
    const bufs: Buffer[] = []
    let bytes = 0
    // one allocation for the group's headers
    const headers = Buffer.allocUnsafe(HEADER * batch.length)
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as PendingAppend
      const h = headers.subarray(i * HEADER, (i + 1) * HEADER)
      h.writeUInt32LE(p.chunk.length, 0)
      h.writeUInt32LE(crc32(p.chunk), 4)
      bufs.push(h, p.chunk)
      bytes += HEADER + p.chunk.length
    }
    const seg = segments[segments.length - 1] as Segment
    const t0 = performance.now()
    try {
      let written = writevSync(writeFd, bufs, seg.size)
      // a short write (disk full, signal) continues where it stopped
      if (written < bytes) {
        const all = Buffer.concat(bufs)
        while (written < bytes) written += writeSync(writeFd, all, written, bytes - written, seg.size + written)
      }
      counters.fsyncs++
    } catch (err) {
      log.error({ err }, 'spool write failed')
      unconfirmed -= bytes
      for (const p of batch) p.reject(err as Error)
      return
    }
    opts.onWrite?.({ seconds: (performance.now() - t0) / 1000, bytes, records: batch.length })
    seg.size += bytes
    const at = Date.now()
    let lsn = appendedLsn
    for (const p of batch) {
      lsn += HEADER + p.chunk.length
      p.resolve(receipt(lsn))
    }
    appendedLsn = lsn
    counters.appendedRecords += batch.length
    ages.push({ lsn: appendedLsn, at })
    if (seg.size >= opts.segmentBytes) rotate()
    wakeDrain()
  }

  // --- the next segment, prepared ahead --------------------------------------
  let prepared: 'no' | 'filling' | 'ready' = 'no'
  let preparing: Promise<void> = Promise.resolve()
  function prepareNext (): void {
    if (prepared !== 'no' || closed) return
    prepared = 'filling'
    preparing = fillWithZeros(preparedPath, opts.segmentBytes, () => closed).then(() => {
      prepared = 'ready'
    }, (err: unknown) => {
      // the next segment is then created empty and appended to
      prepared = 'no'
      rmSync(preparedPath, { force: true })
      if (!closed) log.warn({ err }, 'spool: next segment not prepared')
    })
  }

  function rotate (): void {
    const seg = segments[segments.length - 1] as Segment
    const seq = seg.seq + 1
    const path = join(opts.dir, segName(seq))
    const fromPrepared = prepared === 'ready'
    let fd: number
    try {
      if (fromPrepared) {
        prepared = 'no'
        renameSync(preparedPath, path)
      }
      fd = openSync(path, SEGMENT_FLAGS, 0o644)
      // its name is durable before a record is acknowledged from it: an
      // overwrite with O_DSYNC commits no metadata
      try { syncDir(opts.dir) } catch (err) { closeSync(fd); throw err }
    } catch (err) {
      // the current segment goes on growing; the next group tries again
      log.error({ err }, 'spool: next segment not opened')
      if (fromPrepared) rmSync(path, { force: true })
      prepareNext()
      return
    }
    closeSync(writeFd)
    seg.sealed = true
    writeFd = fd
    if (fromPrepared) counters.preparedSegments++
    segments.push({ seq, path, size: 0, sealed: false, createdAt: Date.now() })
    prepareNext()
  }

  function append (chunk: Buffer): Promise<Receipt> {
    if (closed) return Promise.reject(new GW_ERR_SPOOL_CLOSED('to appends'))
    // a zero length marks the end of a segment's data
    if (chunk.length === 0) return Promise.reject(new RangeError('an empty record cannot be spooled'))
    // backpressure: past the bound the caller waits (and with it the PUBACK)
    if (unconfirmed + chunk.length + HEADER > opts.maxBytes && unconfirmed > 0) return appendWhenRoom(chunk)
    unconfirmed += chunk.length + HEADER
    // one promise per append, no async wrapper: this runs for every publish
    const p = new Promise<Receipt>((resolve, reject) => pending.push({ chunk, resolve, reject }))
    // the group starts once this turn's I/O callbacks have all appended, or
    // once its first append is maxGroupMs old (a long turn under load)
    if (pending.length === 1) group.opened()
    else group.cutIfOld()
    return p
  }

  async function appendWhenRoom (chunk: Buffer): Promise<Receipt> {
    while (unconfirmed + chunk.length + HEADER > opts.maxBytes && unconfirmed > 0) {
      await new Promise<void>(resolve => spaceWaiters.push(resolve))
      if (closed) throw new GW_ERR_SPOOL_CLOSED('to appends')
    }
    return await append(chunk)
  }

  // --- drain ---------------------------------------------------------------------
  function readBatch (): { chunks: Buffer[], bytes: number, seq: number, endOff: number } | null {
    const idx = segments.findIndex(s => s.seq === readSeg)
    if (idx < 0) return null
    const seg = segments[idx] as Segment
    if (readOff >= seg.size) {
      if (seg.sealed && idx + 1 < segments.length) {
        readSeg = (segments[idx + 1] as Segment).seq
        readOff = 0
        return readBatch()
      }
      return null
    }
    const want = Math.min(seg.size - readOff, Math.max(opts.maxBatchBytes, HEADER))
    // Read synchronously from a descriptor kept open: the data was written a
    // moment ago and sits in the page cache, so this is a copy of at most
    // maxBatchBytes. Asynchronous open/read/close cost three event-loop turns
    // per batch, and under ingest load a turn lasts tens of milliseconds: the
    // drain then crawled (9 batches in 15 s at 38,000 readings/s).
    const fd = readFdFor(seg)
    let buf = Buffer.allocUnsafe(want)
    let bytesRead = readSync(fd, buf, 0, want, readOff)
    const chunks: Buffer[] = []
    let off = 0
    while (off + HEADER <= bytesRead) {
      const len = buf.readUInt32LE(off)
      if (off + HEADER + len > bytesRead) {
        if (chunks.length > 0) break
        // one record larger than a batch: read it whole
        buf = Buffer.allocUnsafe(HEADER + len)
        bytesRead = readSync(fd, buf, 0, HEADER + len, readOff)
        off = 0
        if (HEADER + len > bytesRead) return null
      }
      chunks.push(buf.subarray(off + HEADER, off + HEADER + len))
      off += HEADER + len
    }
    if (chunks.length === 0) return null
    return { chunks, bytes: off, seq: seg.seq, endOff: readOff + off }
  }

  let readFd: { seq: number, fd: number } | null = null
  function readFdFor (seg: Segment): number {
    if (readFd?.seq === seg.seq) return readFd.fd
    closeReadFd()
    readFd = { seq: seg.seq, fd: openSync(seg.path, 'r') }
    return readFd.fd
  }
  function closeReadFd (): void {
    if (readFd) { try { closeSync(readFd.fd) } catch {} readFd = null }
  }

  function confirm (bytes: number, records: number, seq: number, endOff: number): void {
    confirmedLsn += bytes
    unconfirmed -= bytes
    counters.confirmedRecords += records
    readSeg = seq
    readOff = endOff
    while (waitHead < waiters.length && (waiters[waitHead] as Waiter).lsn <= confirmedLsn) (waiters[waitHead++] as Waiter).resolve()
    if (waitHead > 1024 && waitHead * 2 > waiters.length) { waiters.splice(0, waitHead); waitHead = 0 }
    let agesHead = 0
    while (agesHead < ages.length && (ages[agesHead] as { lsn: number }).lsn <= confirmedLsn) agesHead++
    if (agesHead > 0) ages.splice(0, agesHead)
    // delete sealed segments that are wholly confirmed
    while (segments.length > 1) {
      const first = segments[0] as Segment
      if (!first.sealed || (first.seq === readSeg && readOff < first.size)) break
      if (first.seq > readSeg) break
      if (readFd?.seq === first.seq) closeReadFd()
      removeSegment(first.path)
      segments.shift()
      if (first.seq === readSeg) { readSeg = (segments[0] as Segment).seq; readOff = 0 }
    }
    const now = Date.now()
    if (now - lastCheckpoint > 200) { saveCheckpoint(); lastCheckpoint = now }
    const ws = spaceWaiters
    spaceWaiters = []
    for (const w of ws) w()
    opts.onConfirm?.({ bytes, records })
  }

  // The checkpoint and the deletion of confirmed segments go through the
  // thread pool, one at a time each: on the event loop, under load, a
  // checkpoint's rename over the old file took up to 7 ms and a 16 MB
  // segment's unlink up to 12 ms (benchmarks/README.md, session 11). Neither
  // is needed for durability: a stale checkpoint or a segment left behind
  // only means more (harmless) replay after a crash; close() waits for both.
  let unlinking: Promise<void> = Promise.resolve()
  function removeSegment (path: string): void {
    unlinking = unlinking.then(() => unlink(path)).catch((err: unknown) => { log.warn({ err }, 'spool: segment not deleted') })
  }

  // not fsynced: a stale checkpoint only means more (harmless) replay
  const checkpointText = (): string => JSON.stringify({ seq: readSeg, offset: readOff })
  let checkpointing: Promise<void> | null = null
  let checkpointAgain = false
  function saveCheckpoint (): void {
    if (checkpointing) { checkpointAgain = true; return }
    checkpointing = (async () => {
      do {
        checkpointAgain = false
        try {
          await writeFile(checkpointFile + '.tmp', checkpointText())
          await rename(checkpointFile + '.tmp', checkpointFile)
        } catch (err) {
          log.warn({ err }, 'spool: checkpoint not written')
        }
      } while (checkpointAgain && !closed)
      checkpointing = null
    })()
  }

  /** The last checkpoint, written on the event loop: at close, once nothing else writes one. */
  function writeCheckpoint (): void {
    try {
      writeFileSync(checkpointFile + '.tmp', checkpointText())
      renameSync(checkpointFile + '.tmp', checkpointFile)
    } catch (err) {
      log.warn({ err }, 'spool: checkpoint not written')
    }
  }

  const lingerMs = opts.lingerMs ?? 0
  let lastSendAt = 0
  async function drain (): Promise<void> {
    while (draining) {
      const wait = lastSendAt + lingerMs - Date.now()
      if (wait > 0 && !closed && appendedLsn - confirmedLsn < opts.maxBatchBytes) {
        await new Promise<void>(resolve => {
          const timer = setTimeout(() => { lingerWake = null; resolve() }, wait)
          lingerWake = () => { clearTimeout(timer); lingerWake = null; resolve() }
        })
        continue
      }
      let batch: ReturnType<typeof readBatch> = null
      try { batch = readBatch() } catch (err) { log.error({ err }, 'spool read failed') }
      if (!batch) {
        if (closed && pending.length === 0) break
        await new Promise<void>(resolve => { drainWake = resolve; setTimeout(resolve, 1000).unref() })
        continue
      }
      lastSendAt = Date.now()
      try {
        await sender.send(batch.chunks, () => !draining)
      } catch {
        break // told to stop: the batch stays on disk
      }
      confirm(batch.bytes, batch.chunks.length, batch.seq, batch.endOff)
    }
  }
  const drainDone = drain()
  prepareNext()

  return {
    append,
    full: () => spaceWaiters.length > 0,
    stats () {
      const oldest = ages[0]
      return {
        unconfirmedBytes: unconfirmed,
        segments: segments.length,
        oldestUnconfirmedS: oldest ? (Date.now() - oldest.at) / 1000 : 0,
        ...counters,
        nextPrepared: prepared === 'ready'
      }
    },
    async close (timeoutMs) {
      if (closed) return
      closed = true
      for (const w of spaceWaiters) w()
      spaceWaiters = []
      writePending()
      lingerWake?.()
      wakeDrain()
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        drainDone.then(() => false),
        new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), timeoutMs) })
      ])
      clearTimeout(timer)
      draining = false
      wakeDrain()
      if (timedOut) {
        log.warn({ unconfirmedBytes: unconfirmed }, 'spool: shutdown timeout, the rest stays for the next start')
        sender.abort()
      }
      await drainDone
      await checkpointing
      writeCheckpoint()
      closeReadFd()
      const unconfirmedWaiters = waiters.splice(0).slice(waitHead)
      waitHead = 0
      for (const w of unconfirmedWaiters) w.reject(new GW_ERR_SPOOL_CLOSED('before questdb confirmed'))
      closeSync(writeFd)
      // an empty write segment is not kept
      const last = segments[segments.length - 1] as Segment
      if (last.size === 0) { try { unlinkSync(last.path) } catch {} }
      await preparing
      rmSync(preparedPath, { force: true })
      await unlinking
      releaseLock()
    }
  }
}
