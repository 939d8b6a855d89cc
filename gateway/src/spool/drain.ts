// The spool's drain: one loop reads records in order and sends them to QuestDB
// in batches through the IlpSender (which keeps retrying the same bytes). Only
// after QuestDB answered 2xx for a batch does the confirmed position move; a
// segment is deleted only when all of it is confirmed, and the position is
// saved in a checkpoint (checkpoint.ts) that the next open() replays from.
import { closeSync, openSync, readSync } from 'node:fs'
import type { Logger } from 'pino'
import { GW_ERR_SPOOL_CLOSED } from '../errors.js'
import type { IlpSender } from '../questdb/ilp-sender.js'
import { createCheckpoint } from './checkpoint.js'
import { HEADER, recordSize, splitRecords } from './record.js'
import type { Segment, SegmentLog } from './segments.js'

interface Waiter { lsn: number, resolve: () => void, reject: (e: Error) => void }

/**
 * Who waits for a confirmation, in lsn order. A promise is made only when
 * asked for (ACK_MODE=commit): in spool mode nobody waits for QuestDB per
 * record. The array is consumed from `head`: Array#shift on a long array of
 * waiters costs a copy per confirmation, and under load the gateway's CPU
 * went to it (`npm run bench -- ingest`, ack mode commit).
 */
function createWaitList (): { add: (lsn: number) => Promise<void>, resolveUpTo: (lsn: number) => void, rejectAll: (err: Error) => void } {
  const waiters: Waiter[] = []
  let head = 0
  return {
    add (lsn) {
      return new Promise<void>((resolve, reject) => {
        const w = { lsn, resolve, reject }
        let i = waiters.length
        // appends ask in order; an earlier lsn asked late goes to its place
        while (i > head && (waiters[i - 1] as Waiter).lsn > lsn) i--
        if (i === waiters.length) waiters.push(w)
        else waiters.splice(i, 0, w)
      })
    },
    resolveUpTo (lsn) {
      while (head < waiters.length && (waiters[head] as Waiter).lsn <= lsn) (waiters[head++] as Waiter).resolve()
      if (head > 1024 && head * 2 > waiters.length) { waiters.splice(0, head); head = 0 }
    },
    rejectAll (err) {
      const left = waiters.splice(0).slice(head)
      head = 0
      for (const w of left) w.reject(err)
    }
  }
}

export interface DrainOptions {
  log: Logger
  sender: IlpSender
  segments: SegmentLog
  checkpointFile: string
  /** Where reading starts in the first segment (applyCheckpoint, checkpoint.ts). */
  readOff: number
  /** Bytes found unconfirmed at open: log positions start past them. */
  replayBytes: number
  maxBatchBytes: number
  lingerMs: number
  /** True once the spool closes and takes no more appends. */
  closed: () => boolean
  /** After a batch is confirmed and its segments dropped. */
  onConfirm: (bytes: number, records: number) => void
}

export interface Drain {
  /** Log position (bytes since open, replayed bytes first) past the last durable record. */
  appendedLsn: () => number
  /** Records up to `lsn` are durable since `at` (ms): wakes the drain. */
  appended: (lsn: number, at: number) => void
  /** Resolves when QuestDB has confirmed every byte before `lsn`. */
  whenConfirmed: (lsn: number) => Promise<void>
  /** When the oldest unconfirmed record was written (ms), if any. */
  oldestAt: () => number | undefined
  confirmedRecords: () => number
  /**
   * Drains for at most timeoutMs (then `onTimeout`, and the sender is told to
   * stop), saves the checkpoint and fails whoever still waits for a confirmation.
   */
  close: (timeoutMs: number, onTimeout: () => void) => Promise<void>
}

export function createDrain (opts: DrainOptions): Drain {
  const { log, sender, segments, maxBatchBytes, lingerMs, closed } = opts
  const list = segments.list
  let readSeg = (list[0] as Segment).seq
  let readOff = opts.readOff
  let appendedLsn = opts.replayBytes
  let confirmedLsn = 0
  let confirmedRecords = 0
  let draining = true
  let drainWake: (() => void) | null = null
  // the linger's sleep, cut short only by close()
  let lingerWake: (() => void) | null = null
  const ages: Array<{ lsn: number, at: number }> = []
  if (opts.replayBytes > 0) ages.push({ lsn: opts.replayBytes, at: (list[0] as Segment).createdAt })

  const waiters = createWaitList()
  function whenConfirmed (lsn: number): Promise<void> {
    if (lsn <= confirmedLsn) return Promise.resolve()
    if (closed() && !draining) return Promise.reject(new GW_ERR_SPOOL_CLOSED('before questdb confirmed'))
    return waiters.add(lsn)
  }

  function wakeDrain (): void {
    if (drainWake) { const w = drainWake; drainWake = null; w() }
  }

  // --- reading -----------------------------------------------------------------
  function readBatch (): { chunks: Buffer[], bytes: number, seq: number, endOff: number } | null {
    const idx = list.findIndex(s => s.seq === readSeg)
    if (idx < 0) return null
    const seg = list[idx] as Segment
    if (readOff >= seg.size) {
      if (seg.sealed && idx + 1 < list.length) {
        readSeg = (list[idx + 1] as Segment).seq
        readOff = 0
        return readBatch()
      }
      return null
    }
    const want = Math.min(seg.size - readOff, Math.max(maxBatchBytes, HEADER))
    // Read synchronously from a descriptor kept open: the data was written a
    // moment ago and sits in the page cache, so this is a copy of at most
    // maxBatchBytes. Asynchronous open/read/close cost three event-loop turns
    // per batch, and under ingest load a turn is long enough that the drain
    // fell behind (`npm run bench -- ingest`, spool drained after).
    const fd = readFdFor(seg)
    const buf = Buffer.allocUnsafe(want)
    const bytesRead = readSync(fd, buf, 0, want, readOff)
    const chunks: Buffer[] = []
    let off = splitRecords(buf, bytesRead, chunks)
    if (chunks.length === 0) {
      if (bytesRead < HEADER) return null
      // one record larger than a batch: read it whole
      const size = recordSize(buf, 0)
      const whole = Buffer.allocUnsafe(size)
      if (readSync(fd, whole, 0, size, readOff) < size) return null
      chunks.push(whole.subarray(HEADER))
      off = size
    }
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

  // --- confirmation ------------------------------------------------------------
  const checkpoint = createCheckpoint(opts.checkpointFile, log, () => ({ seq: readSeg, offset: readOff }), closed)
  let lastCheckpoint = 0
  function confirm (bytes: number, records: number, seq: number, endOff: number): void {
    confirmedLsn += bytes
    confirmedRecords += records
    readSeg = seq
    readOff = endOff
    waiters.resolveUpTo(confirmedLsn)
    let agesHead = 0
    while (agesHead < ages.length && (ages[agesHead] as { lsn: number }).lsn <= confirmedLsn) agesHead++
    if (agesHead > 0) ages.splice(0, agesHead)
    // delete sealed segments that are wholly confirmed
    while (list.length > 1) {
      const first = list[0] as Segment
      if (!first.sealed || (first.seq === readSeg && readOff < first.size)) break
      if (first.seq > readSeg) break
      if (readFd?.seq === first.seq) closeReadFd()
      segments.dropFirst()
      if (first.seq === readSeg) { readSeg = (list[0] as Segment).seq; readOff = 0 }
    }
    const now = Date.now()
    if (now - lastCheckpoint > 200) { checkpoint.save(); lastCheckpoint = now }
    opts.onConfirm(bytes, records)
  }

  // --- the loop ----------------------------------------------------------------
  let lastSendAt = 0
  async function drain (): Promise<void> {
    while (draining) {
      const wait = lastSendAt + lingerMs - Date.now()
      if (wait > 0 && !closed() && appendedLsn - confirmedLsn < maxBatchBytes) {
        await new Promise<void>(resolve => {
          const timer = setTimeout(() => { lingerWake = null; resolve() }, wait)
          lingerWake = () => { clearTimeout(timer); lingerWake = null; resolve() }
        })
        continue
      }
      let batch: ReturnType<typeof readBatch> = null
      try { batch = readBatch() } catch (err) { log.error({ err }, 'spool read failed') }
      if (!batch) {
        // closed: the spool wrote its last group before saying so
        if (closed()) break
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

  return {
    appendedLsn: () => appendedLsn,
    appended (lsn, at) {
      appendedLsn = lsn
      ages.push({ lsn, at })
      wakeDrain()
    },
    whenConfirmed,
    oldestAt: () => ages[0]?.at,
    confirmedRecords: () => confirmedRecords,
    async close (timeoutMs, onTimeout) {
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
        onTimeout()
        sender.abort()
      }
      await drainDone
      await checkpoint.writeLast()
      closeReadFd()
      waiters.rejectAll(new GW_ERR_SPOOL_CLOSED('before questdb confirmed'))
    }
  }
}
