// Received times: the gateway's own clock, in QuestDB's microseconds.

/** A microsecond clock that never repeats a value, so received times can key rows. */
export function createMonotonicClock (now: () => number = Date.now): () => number {
  let last = 0
  return () => {
    const t = now() * 1000
    last = t > last ? t : last + 1
    return last
  }
}
