// The wire time format, shared by the gateway (parsing what devices send) and
// the api (writing what it answers): event times arrive as RFC 3339 strings
// (up to nanoseconds, any zone) or epoch milliseconds; QuestDB stores
// microseconds, and the api writes RFC 3339 UTC with microseconds. Date.parse
// keeps only milliseconds, so the digits past them are added back by hand.

const FRACTION = /\.(\d+)/

// Readings of the same second share their first 19 characters: the epoch of
// the last such prefix seen is kept, and the fraction is read digit by digit.
// Only `YYYY-MM-DDTHH:MM:SS[.fraction]Z` takes this path; any other shape (an
// offset, a lower-case z, no fraction digits) goes through Date.parse below.
let lastPrefix = ''
let lastPrefixMs = NaN

function fastUtcMicros (ts: string): number {
  const n = ts.length
  if (n < 20 || n > 30 || ts.charCodeAt(n - 1) !== 90 /* Z */ || ts.charCodeAt(10) !== 84 /* T */) return NaN
  let micros = 0
  if (n > 20) {
    if (ts.charCodeAt(19) !== 46 /* . */ || n === 21) return NaN
    // up to 9 fraction digits; microseconds are the first 6
    let scale = 100000
    for (let i = 20; i < n - 1; i++) {
      const d = ts.charCodeAt(i) - 48
      if (d < 0 || d > 9) return NaN
      micros += d * scale
      scale = scale / 10
    }
    micros = Math.floor(micros)
  }
  const prefix = ts.slice(0, 19)
  if (prefix !== lastPrefix) {
    const ms = Date.parse(prefix + 'Z')
    if (Number.isNaN(ms)) return NaN
    lastPrefix = prefix
    lastPrefixMs = ms
  }
  return lastPrefixMs * 1000 + micros
}

/** Epoch microseconds, or NaN when the value is not a real instant. */
export function toEpochMicros (ts: string | number): number {
  if (typeof ts === 'number') return ts * 1000
  const fast = fastUtcMicros(ts)
  if (!Number.isNaN(fast)) return fast
  const m = FRACTION.exec(ts)
  let extraMicros = 0
  let text = ts
  if (m) {
    const digits = m[1] as string
    extraMicros = Number((digits.slice(3, 6)).padEnd(3, '0'))
    text = ts.slice(0, m.index) + '.' + digits.slice(0, 3).padEnd(3, '0') + ts.slice(m.index + m[0].length)
  }
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) return NaN
  return ms * 1000 + extraMicros
}

// the ISO text of the last whole second formatted, to which microseconds are added
let isoSecond = NaN
let isoPrefix = ''

/** RFC 3339 UTC with microseconds, e.g. 2026-11-21T10:15:30.123456Z. */
export function microsToIso (us: number): string {
  const second = Math.floor(us / 1e6)
  if (second !== isoSecond) {
    const iso = new Date(second * 1000).toISOString()
    // years outside 0000-9999 are written with a sign and six digits
    isoPrefix = iso.slice(0, iso.length - 4)
    isoSecond = second
  }
  const frac = us - second * 1e6
  // join builds one flat string (46 bytes); `+` built a rope of a slice, its
  // parent and two cons cells (138 bytes), and the api keeps one per vehicle
  return [isoPrefix, String(frac + 1e6).slice(1), 'Z'].join('')
}
