// The drain's checkpoint: the position up to which QuestDB confirmed the
// spool, as {"seq", "offset"} in confirmed.json. It is a hint, not a
// guarantee: a stale checkpoint only means more (harmless) replay after a
// crash, so it is not fsynced.
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { Segment } from './segments.js'

export interface Position { seq: number, offset: number }

/**
 * Drops the segments before the checkpoint's (confirmed before a restart) and
 * returns the offset to read from in the first one left: the checkpoint's,
 * when it names a live segment, else 0.
 */
export function applyCheckpoint (segments: Segment[], checkpointFile: string, log: Logger): number {
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
  return readOff
}

export interface Checkpoint {
  /** Saves the current position in the background; one write at a time, the last position wins. */
  save: () => void
  /** Waits for a save under way, then writes the position on the event loop: at close. */
  writeLast: () => Promise<void>
}

// Written through the thread pool, one at a time: a rename on the event loop
// blocks it under load (`npm run bench -- ingest`, PUBACK latency).
export function createCheckpoint (file: string, log: Logger, position: () => Position, closed: () => boolean): Checkpoint {
  const text = (): string => JSON.stringify(position())
  let saving: Promise<void> | null = null
  let again = false
  return {
    save () {
      if (saving) { again = true; return }
      saving = (async () => {
        do {
          again = false
          try {
            await writeFile(file + '.tmp', text())
            await rename(file + '.tmp', file)
          } catch (err) {
            log.warn({ err }, 'spool: checkpoint not written')
          }
        } while (again && !closed())
        saving = null
      })()
    },
    async writeLast () {
      await saving
      try {
        writeFileSync(file + '.tmp', text())
        renameSync(file + '.tmp', file)
      } catch (err) {
        log.warn({ err }, 'spool: checkpoint not written')
      }
    }
  }
}
