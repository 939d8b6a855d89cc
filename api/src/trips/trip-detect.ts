// Trips and stops from a vehicle's buckets (trip-sql.ts), oldest first.
// A bucket is moving when at least half its readings move. Moving buckets
// joined by pauses shorter than the minimum stop form a trip; a data gap
// longer than the gap limit ends it; trips shorter than the minimum are
// dropped and their time counts as standing. A stop is a standing spell of
// at least the minimum stop between two data gaps or trips.
import CheapRuler from 'cheap-ruler'

export interface Bucket {
  t0: number // first reading, epoch µs
  t1: number // last reading
  /** The previous bucket's last reading (null for the first): buckets between may have been left out. */
  prevT1: number | null
  /** Seconds one reading stands for (the bucket's spacing of readings). */
  readingS: number
  n: number
  movingN: number
  m0: number | null // first moving reading
  m1: number | null // last moving reading
  /** Standing readings with the ignition on. */
  idleN: number
  lat0: number
  lon0: number
  lat1: number
  lon1: number
  vmax: number | null
  odo0: number | null
  odo1: number | null
  fuel0: number | null
  fuel1: number | null
}

export interface TripSettings {
  minStopS: number
  minTripS: number
  gapS: number
}

export interface DetectedTrip {
  startUs: number
  endUs: number
  startLat: number
  startLon: number
  endLat: number
  endLon: number
  distanceKm: number
  distanceSource: 'odometer' | 'track'
  maxSpeedKmh: number | null
  fuelUsedPct: number | null
}

export interface DetectedStop {
  startUs: number
  endUs: number
  lat: number
  lon: number
  /** Seconds of the stop with the ignition on (idling). */
  idleS: number
}

const num = (v: unknown): number | null => v === null || v === undefined ? null : Number(v)

/** A bucket from a row of trip-sql.ts; prevT1 from the row, else from the previous bucket. */
export function rowToBucket (r: Record<string, unknown>, prev: Bucket | undefined, bucketS: number): Bucket {
  const t0 = Number(r.t0)
  const t1 = Number(r.t1)
  const n = Number(r.n)
  return {
    t0,
    t1,
    prevT1: r.prev_t1 !== undefined ? num(r.prev_t1) : prev?.t1 ?? null,
    readingS: n > 1 ? (t1 - t0) / 1e6 / (n - 1) : bucketS,
    n,
    movingN: Number(r.moving_n),
    m0: num(r.m0),
    m1: num(r.m1),
    idleN: Number(r.idle_n),
    lat0: Number(r.lat0),
    lon0: Number(r.lon0),
    lat1: Number(r.lat1),
    lon1: Number(r.lon1),
    vmax: num(r.vmax),
    odo0: num(r.odo0),
    odo1: num(r.odo1),
    fuel0: num(r.fuel0),
    fuel1: num(r.fuel1)
  }
}

const isMoving = (b: Bucket): boolean => b.movingN * 2 >= b.n && b.movingN > 0
const gapBefore = (b: Bucket, gapUs: number): boolean => b.prevT1 !== null && b.t0 - b.prevT1 > gapUs

/** Index ranges [from, to] of buckets, one per moving spell, with their refined start and end times. */
interface Span { from: number, to: number, startUs: number, endUs: number }

function movingSpans (bs: Bucket[], gapUs: number): Span[] {
  const spans: Span[] = []
  let cur: Span | null = null
  for (let i = 0; i < bs.length; i++) {
    const b = bs[i] as Bucket
    const prev = bs[i - 1]
    const gap = gapBefore(b, gapUs)
    if (cur && (gap || !isMoving(b))) {
      // the standing bucket after a spell may hold its last moving readings
      if (!gap && b.m1 !== null) cur.endUs = b.m1
      spans.push(cur)
      cur = null
    }
    if (!isMoving(b)) continue
    if (cur) { cur.to = i; cur.endUs = b.m1 ?? b.t1; continue }
    // the standing bucket before it may hold its first moving readings
    const early = !gap && prev !== undefined && prev.m0 !== null ? prev.m0 : null
    cur = { from: early !== null ? i - 1 : i, to: i, startUs: early ?? b.m0 ?? b.t0, endUs: b.m1 ?? b.t1 }
  }
  if (cur) spans.push(cur)
  return spans
}

/** Whether the buckets from..to (inclusive) have a data gap longer than gapUs between them. */
function hasGap (bs: Bucket[], from: number, to: number, gapUs: number): boolean {
  for (let i = from + 1; i <= to; i++) if (gapBefore(bs[i] as Bucket, gapUs)) return true
  return false
}

function toTrip (bs: Bucket[], s: Span, ruler: CheapRuler): DetectedTrip {
  const first = bs[s.from] as Bucket
  const last = bs[s.to] as Bucket
  let vmax: number | null = null
  let odo0: number | null = null
  let odo1: number | null = null
  let fuel0: number | null = null
  let fuel1: number | null = null
  const line: [number, number][] = [[first.lon0, first.lat0]]
  for (let i = s.from; i <= s.to; i++) {
    const b = bs[i] as Bucket
    if (b.vmax !== null && (vmax === null || b.vmax > vmax)) vmax = b.vmax
    odo0 ??= b.odo0
    if (b.odo1 !== null) odo1 = b.odo1
    fuel0 ??= b.fuel0
    if (b.fuel1 !== null) fuel1 = b.fuel1
    line.push([b.lon1, b.lat1])
  }
  const byOdometer = odo0 !== null && odo1 !== null && odo1 >= odo0
  const fuel = fuel0 !== null && fuel1 !== null ? fuel0 - fuel1 : null
  return {
    startUs: s.startUs,
    endUs: s.endUs,
    startLat: first.lat0,
    startLon: first.lon0,
    endLat: last.lat1,
    endLon: last.lon1,
    distanceKm: byOdometer ? (odo1 as number) - (odo0 as number) : ruler.lineDistance(line),
    distanceSource: byOdometer ? 'odometer' : 'track',
    maxSpeedKmh: vmax,
    // a refuel during the trip leaves no meaningful figure
    fuelUsedPct: fuel !== null && fuel >= 0 ? fuel : null
  }
}

/** Stops in the standing time between kept trips, split at data gaps. */
function stopsBetween (bs: Bucket[], trips: Span[], minStopUs: number, gapUs: number): DetectedStop[] {
  const stops: DetectedStop[] = []
  // standing intervals: from the end of a trip (or the first reading) to the start of the next (or the last reading)
  const bounds: { startUs: number, endUs: number }[] = []
  let from = bs.length > 0 ? (bs[0] as Bucket).t0 : 0
  for (const s of trips) { bounds.push({ startUs: from, endUs: s.startUs }); from = s.endUs }
  if (bs.length > 0) bounds.push({ startUs: from, endUs: (bs[bs.length - 1] as Bucket).t1 })
  let i = 0
  for (const iv of bounds) {
    while (i < bs.length && (bs[i] as Bucket).t1 < iv.startUs) i++
    let start = iv.startUs
    let startIdx = i
    let idle = 0
    const close = (endUs: number): void => {
      if (endUs - start >= minStopUs) {
        const at = bs[startIdx] as Bucket
        stops.push({ startUs: start, endUs, lat: at.lat1, lon: at.lon1, idleS: Math.round(Math.min(idle, (endUs - start) / 1e6)) })
      }
    }
    let j = i
    for (; j < bs.length && (bs[j] as Bucket).t0 <= iv.endUs; j++) {
      const b = bs[j] as Bucket
      if (j > startIdx && gapBefore(b, gapUs)) {
        close(b.prevT1 as number)
        start = b.t0
        startIdx = j
        idle = 0
      }
      // each idling reading stands for the spacing of its bucket's readings
      idle += b.idleN * b.readingS
    }
    close(iv.endUs)
    i = Math.max(i, j - 1)
  }
  return stops
}

export function detectTrips (bs: Bucket[], settings: TripSettings): { trips: DetectedTrip[], stops: DetectedStop[] } {
  const gapUs = settings.gapS * 1e6
  const minStopUs = settings.minStopS * 1e6
  // join spells separated by a pause shorter than a stop, unless data is missing in between
  const joined: Span[] = []
  for (const s of movingSpans(bs, gapUs)) {
    const prev = joined[joined.length - 1]
    if (prev && s.startUs - prev.endUs < minStopUs && !hasGap(bs, prev.to, s.from, gapUs)) {
      prev.to = s.to
      prev.endUs = s.endUs
    } else joined.push({ ...s })
  }
  const kept = joined.filter(s => s.endUs - s.startUs >= settings.minTripS * 1e6)
  const lat = bs.length > 0 ? (bs[0] as Bucket).lat0 : 0
  const ruler = new CheapRuler(lat, 'kilometers')
  return { trips: kept.map(s => toTrip(bs, s, ruler)), stops: stopsBetween(bs, kept, minStopUs, gapUs) }
}
