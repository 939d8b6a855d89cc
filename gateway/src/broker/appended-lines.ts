// The complete lines appended to a file since the last call: how the device
// registry and the Redis registry stream follow their append-only files.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs'

export interface AppendedLines {
  /** New complete lines; `restarted` when the file shrank and is read again from its start. */
  (): { lines: string[], restarted: boolean }
}

export function appendedLines (file: string): AppendedLines {
  let offset = 0
  let rest = ''
  return function next () {
    if (!existsSync(file)) return { lines: [], restarted: false }
    const fd = openSync(file, 'r')
    try {
      const size = fstatSync(fd).size
      const restarted = size < offset
      if (restarted) { offset = 0; rest = '' }
      const buf = Buffer.alloc(size - offset)
      let got = 0
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, offset + got)
        if (n === 0) break
        got += n
      }
      offset += got
      const lines = (rest + buf.subarray(0, got).toString('utf8')).split('\n')
      rest = lines.pop() ?? ''
      return { lines, restarted }
    } finally {
      closeSync(fd)
    }
  }
}
