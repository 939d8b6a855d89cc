// The spool's record: u32 LE length | u32 LE crc32(payload) | payload.
//
// A record is never empty, so a zero length ends a segment's data: the rest of
// a prepared segment is zeros (segments.ts), and crc32 of nothing is 0, so
// zeros would otherwise pass the check. A torn record at the tail of the last
// segment (crash mid-write) fails the length or the crc and is cut at open().
import { crc32 } from 'node:zlib'

export const HEADER = 8

/**
 * Frames a group of payloads for one vectored write: a header before each,
 * all headers in one allocation.
 */
export function frameGroup (group: ReadonlyArray<{ chunk: Buffer }>): { bufs: Buffer[], bytes: number } {
  const bufs: Buffer[] = []
  let bytes = 0
  const headers = Buffer.allocUnsafe(HEADER * group.length)
  for (let i = 0; i < group.length; i++) {
    const chunk = (group[i] as { chunk: Buffer }).chunk
    const h = headers.subarray(i * HEADER, (i + 1) * HEADER)
    h.writeUInt32LE(chunk.length, 0)
    h.writeUInt32LE(crc32(chunk), 4)
    bufs.push(h, chunk)
    bytes += HEADER + chunk.length
  }
  return { bufs, bytes }
}

/** The byte length of the checked records at the start of `data`, and their count. */
export function validPrefix (data: Buffer): { valid: number, records: number } {
  let off = 0
  let records = 0
  while (off + HEADER <= data.length) {
    const len = data.readUInt32LE(off)
    // the end of the data: zeros would pass the crc check
    if (len === 0) break
    const sum = data.readUInt32LE(off + 4)
    if (off + HEADER + len > data.length) break
    if (crc32(data.subarray(off + HEADER, off + HEADER + len)) !== sum) break
    off += HEADER + len
    records++
  }
  return { valid: off, records }
}

/**
 * Pushes the payloads of the whole records among the first `length` bytes of
 * `buf` (records the spool wrote itself: no crc check) and returns the bytes
 * they take. The payloads are views into `buf`.
 */
export function splitRecords (buf: Buffer, length: number, into: Buffer[]): number {
  let off = 0
  while (off + HEADER <= length) {
    const len = buf.readUInt32LE(off)
    if (off + HEADER + len > length) break
    into.push(buf.subarray(off + HEADER, off + HEADER + len))
    off += HEADER + len
  }
  return off
}

/** The size of the record whose header starts at `off`, header included. */
export function recordSize (buf: Buffer, off: number): number {
  return HEADER + buf.readUInt32LE(off)
}
