// The spool's files: numbered segments of records (record.ts), the one being
// written, and the next one prepared ahead.
import { closeSync, constants, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync, writevSync } from 'node:fs'
import { open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { GW_ERR_SPOOL_CLOSED } from '../errors.js'
import { validPrefix } from './record.js'

// Segments are written with O_DSYNC: a write is durable when it returns, and
// the spool writes its group on the event loop (spool.ts says why).
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
// the data alone; appended to a growing file, every write also waits for a
// journal commit of the new size (ext4). `npm run bench -- profile` shows the
// write's duration (fleetgate_spool_write_seconds). A group larger than what
// is left of the prepared size is appended as before.
const PREPARED = 'next-segment.tmp'
const ZEROS = Buffer.alloc(1 << 20)

export const SEG_RE = /^seg-(\d{16})\.log$/

export function segName (seq: number): string {
  return `seg-${String(seq).padStart(16, '0')}.log`
}

export interface Segment { seq: number, path: string, size: number, sealed: boolean, createdAt: number }

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

/**
 * Scans a segment; returns the byte length of its valid prefix, the record
 * count, and whether everything past the prefix is zeros (the unwritten rest
 * of a prepared segment, not a torn record).
 */
export function scanSegment (path: string): { valid: number, records: number, size: number, zeroTail: boolean } {
  const data = readFileSync(path)
  const { valid, records } = validPrefix(data)
  return { valid, records, size: data.length, zeroTail: allZero(data.subarray(valid)) }
}

/**
 * The segments found at open, in order, each cut to its valid records. A
 * prepared file left by a crash is removed: it never holds a record, since
 * records go only into a segment renamed and synced.
 */
export function recoverSegments (dir: string, log: Logger): Segment[] {
  rmSync(join(dir, PREPARED), { force: true })
  const segments: Segment[] = []
  for (const name of readdirSync(dir).sort()) {
    const m = SEG_RE.exec(name)
    if (!m) continue
    const path = join(dir, name)
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
  return segments
}

export interface SegmentLog {
  /** The live segments in order; the last is the one written, never sealed. */
  readonly list: Segment[]
  /** Writes a framed group at the end of the last segment's data; throws if it could not. */
  write: (bufs: Buffer[], bytes: number) => void
  /** Seals the last segment once it holds segmentBytes, and starts the next. */
  rotateIfFull: () => void
  /** Starts preparing the next segment's file, unless one is under way. */
  prepareNext: () => void
  /** Forgets the first segment and deletes its file in the background. */
  dropFirst: () => void
  /** Segments started from a prepared file. */
  preparedSegments: () => number
  nextPrepared: () => boolean
  /** Closes the write segment (deleted if empty) and waits for background file work. */
  close: () => Promise<void>
}

/**
 * Takes the recovered segments and opens a fresh one after them to write to.
 * `closed` tells when the spool closes: no segment is prepared from then on.
 */
export function createSegmentLog (dir: string, log: Logger, segmentBytes: number, segments: Segment[], closed: () => boolean): SegmentLog {
  const preparedPath = join(dir, PREPARED)
  const nextSeq = (segments[segments.length - 1]?.seq ?? 0) + 1
  let writeFd = openSync(join(dir, segName(nextSeq)), SEGMENT_FLAGS, 0o644)
  syncDir(dir)
  segments.push({ seq: nextSeq, path: join(dir, segName(nextSeq)), size: 0, sealed: false, createdAt: Date.now() })

  let preparedCount = 0
  let prepared: 'no' | 'filling' | 'ready' = 'no'
  let preparing: Promise<void> = Promise.resolve()
  function prepareNext (): void {
    if (prepared !== 'no' || closed()) return
    prepared = 'filling'
    preparing = fillWithZeros(preparedPath, segmentBytes, closed).then(() => {
      prepared = 'ready'
    }, (err: unknown) => {
      // the next segment is then created empty and appended to
      prepared = 'no'
      rmSync(preparedPath, { force: true })
      if (!closed()) log.warn({ err }, 'spool: next segment not prepared')
    })
  }

  function write (bufs: Buffer[], bytes: number): void {
    const seg = segments[segments.length - 1] as Segment
    let written = writevSync(writeFd, bufs, seg.size)
    // a short write (disk full, signal) continues where it stopped
    if (written < bytes) {
      const all = Buffer.concat(bufs)
      while (written < bytes) written += writeSync(writeFd, all, written, bytes - written, seg.size + written)
    }
    seg.size += bytes
  }

  function rotate (): void {
    const seg = segments[segments.length - 1] as Segment
    const seq = seg.seq + 1
    const path = join(dir, segName(seq))
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
      try { syncDir(dir) } catch (err) { closeSync(fd); throw err }
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
    if (fromPrepared) preparedCount++
    segments.push({ seq, path, size: 0, sealed: false, createdAt: Date.now() })
    prepareNext()
  }

  // Confirmed segments are deleted through the thread pool, one at a time:
  // an unlink of a large segment on the event loop blocks it under load
  // (`npm run bench -- ingest`, PUBACK latency). A segment left behind by a
  // crash only means more (harmless) replay; close() waits for the deletions.
  let unlinking: Promise<void> = Promise.resolve()

  return {
    list: segments,
    write,
    rotateIfFull () {
      if ((segments[segments.length - 1] as Segment).size >= segmentBytes) rotate()
    },
    prepareNext,
    dropFirst () {
      const path = (segments[0] as Segment).path
      unlinking = unlinking.then(() => unlink(path)).catch((err: unknown) => { log.warn({ err }, 'spool: segment not deleted') })
      segments.shift()
    },
    preparedSegments: () => preparedCount,
    nextPrepared: () => prepared === 'ready',
    async close () {
      closeSync(writeFd)
      // an empty write segment is not kept
      const last = segments[segments.length - 1] as Segment
      if (last.size === 0) { try { unlinkSync(last.path) } catch {} }
      await preparing
      rmSync(preparedPath, { force: true })
      await unlinking
    }
  }
}
