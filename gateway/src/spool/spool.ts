// The spool: an append-only, segmented log of ILP chunks on local disk.
//
// append() resolves once the chunk is written durably; the appends of one
// event-loop turn are written together at the end of that turn (group
// commit), so the cost of reaching the disk is shared (in a turn longer than
// maxGroupMs, as soon as the group's first append is that old). The drain
// (drain.ts) sends what is written to QuestDB and moves the confirmed
// position; after a crash the next open() replays what was not confirmed
// (duplicates are harmless: the tables DEDUP UPSERT). Records are framed and
// checked as record.ts says, kept in the files segments.ts manages, and one
// process holds a spool directory at a time (lock.ts). The drain's position
// survives a restart in a checkpoint (checkpoint.ts).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { GW_ERR_SPOOL_CLOSED } from '../errors.js'
import type { IlpSender } from '../questdb/ilp-sender.js'
import { turnBatch } from '../../../lib/turn-batch.js'
import { applyCheckpoint } from './checkpoint.js'
import { createDrain } from './drain.js'
import { acquireLock } from './lock.js'
import { frameGroup, HEADER } from './record.js'
import { createSegmentLog, recoverSegments } from './segments.js'

export { SEG_RE, segName, scanSegment } from './segments.js'

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

interface PendingAppend { chunk: Buffer, resolve: (v: Receipt) => void, reject: (e: Error) => void }

export async function openSpool (opts: SpoolOptions): Promise<Spool> {
  const { log, sender } = opts
  mkdirSync(opts.dir, { recursive: true })
  const releaseLock = acquireLock(opts.dir, log)
  const checkpointFile = join(opts.dir, 'confirmed.json')
  const found = recoverSegments(opts.dir, log)
  const readOff = applyCheckpoint(found, checkpointFile, log)
  const replayBytes = found.reduce((n, s) => n + s.size, 0) - readOff
  if (replayBytes > 0) log.info({ bytes: replayBytes, segments: found.length }, 'spool: replaying unconfirmed data')

  let closed = false
  const isClosed = (): boolean => closed
  // the write segment is always a fresh one
  const segments = createSegmentLog(opts.dir, log, opts.segmentBytes, found, isClosed)
  // bytes appended (or waiting in the group) and not yet confirmed: the bound for backpressure
  let unconfirmed = replayBytes
  let pending: PendingAppend[] = []
  // written at the end of the turn, or once its first append is maxGroupMs old
  const group = turnBatch(writePending, opts.maxGroupMs ?? 5)
  let spaceWaiters: Array<() => void> = []
  const counters = { appendedRecords: 0, fsyncs: 0 }

  // --- append with group commit ----------------------------------------------
  // The group is written synchronously with O_DSYNC, in the check phase of the
  // turn whose I/O callbacks appended it (as Redis does with appendfsync
  // always: write and sync in the event loop, then reply). The PUBACKs then
  // leave in that same turn. Through the thread pool they waited for the
  // completion to come back in a later turn, and under load a turn is long;
  // the loop is blocked instead for the write itself
  // (fleetgate_spool_write_seconds, `npm run bench -- profile`).
  function writePending (): void {
    if (pending.length === 0) return
    const batch = pending
    pending = []
    const { bufs, bytes } = frameGroup(batch)
    const t0 = performance.now()
    try {
      segments.write(bufs, bytes)
      counters.fsyncs++
    } catch (err) {
      log.error({ err }, 'spool write failed')
      unconfirmed -= bytes
      for (const p of batch) p.reject(err as Error)
      return
    }
    opts.onWrite?.({ seconds: (performance.now() - t0) / 1000, bytes, records: batch.length })
    const at = Date.now()
    let lsn = drain.appendedLsn()
    for (const p of batch) {
      lsn += HEADER + p.chunk.length
      p.resolve(receipt(lsn))
    }
    counters.appendedRecords += batch.length
    segments.rotateIfFull()
    drain.appended(lsn, at)
  }

  function receipt (lsn: number): Receipt {
    let p: Promise<void> | undefined
    return {
      lsn,
      get confirmed () {
        if (p === undefined) { p = drain.whenConfirmed(lsn); p.catch(() => {}) }
        return p
      }
    }
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

  const drain = createDrain({
    log,
    sender,
    segments,
    checkpointFile,
    readOff,
    replayBytes,
    maxBatchBytes: opts.maxBatchBytes,
    lingerMs: opts.lingerMs ?? 0,
    closed: isClosed,
    onConfirm (bytes, records) {
      unconfirmed -= bytes
      const ws = spaceWaiters
      spaceWaiters = []
      for (const w of ws) w()
      opts.onConfirm?.({ bytes, records })
    }
  })
  segments.prepareNext()

  return {
    append,
    full: () => spaceWaiters.length > 0,
    stats () {
      const oldestAt = drain.oldestAt()
      return {
        unconfirmedBytes: unconfirmed,
        segments: segments.list.length,
        oldestUnconfirmedS: oldestAt !== undefined ? (Date.now() - oldestAt) / 1000 : 0,
        appendedRecords: counters.appendedRecords,
        confirmedRecords: drain.confirmedRecords(),
        fsyncs: counters.fsyncs,
        preparedSegments: segments.preparedSegments(),
        nextPrepared: segments.nextPrepared()
      }
    },
    async close (timeoutMs) {
      if (closed) return
      closed = true
      for (const w of spaceWaiters) w()
      spaceWaiters = []
      // the last group: after it the drain may stop once it has read all
      writePending()
      await drain.close(timeoutMs, () => {
        log.warn({ unconfirmedBytes: unconfirmed }, 'spool: shutdown timeout, the rest stays for the next start')
      })
      await segments.close()
      releaseLock()
    }
  }
}
