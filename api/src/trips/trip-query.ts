// Trips and stops of one vehicle, or a day's summary of every vehicle, read
// from QuestDB at request time: late readings (an offline backlog) change the
// answer as soon as they are stored, with nothing cached to invalidate.
import type pg from 'pg'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { DailyReport, Stop, Trip } from '../../../schemas/types.js'
import { detectTrips, rowToBucket, type Bucket, type DetectedStop, type DetectedTrip, type TripSettings } from './trip-detect.js'
import { DAY_FRESHNESS_ONE_SQL, DAY_FRESHNESS_SQL, fleetBucketsSql, vehicleBucketsSql, type TripStart } from './trip-sql.js'

export interface TripOptions extends TripSettings {
  start: TripStart
  speedKmh: number
  bucketS: number
  /** Fetch every bucket, not only those detection needs (for the benchmark's comparison). */
  allBuckets?: boolean
}

function toBuckets (rows: Array<Record<string, unknown>>, bucketS: number): Bucket[] {
  const out: Bucket[] = []
  for (const r of rows) out.push(rowToBucket(r, out[out.length - 1], bucketS))
  return out
}

type Queryable = Pick<pg.Pool, 'query'>

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits

export function toTrip (d: DetectedTrip): Trip {
  const durationS = (d.endUs - d.startUs) / 1e6
  return {
    start: microsToIso(d.startUs),
    end: microsToIso(d.endUs),
    start_lat: d.startLat,
    start_lon: d.startLon,
    end_lat: d.endLat,
    end_lon: d.endLon,
    duration_s: round(durationS, 3),
    distance_km: round(d.distanceKm, 3),
    distance_source: d.distanceSource,
    max_speed_kmh: d.maxSpeedKmh,
    avg_speed_kmh: durationS > 0 ? round(d.distanceKm / durationS * 3600, 1) : 0,
    fuel_used_pct: d.fuelUsedPct === null ? null : round(d.fuelUsedPct, 2)
  }
}

export function toStop (d: DetectedStop): Stop {
  const durationS = (d.endUs - d.startUs) / 1e6
  return {
    start: microsToIso(d.startUs),
    end: microsToIso(d.endUs),
    lat: d.lat,
    lon: d.lon,
    duration_s: round(durationS, 3),
    idle_s: d.idleS,
    ignition: d.idleS * 2 > durationS
  }
}

export async function vehicleTrips (db: Queryable, id: string, fromUs: number, toUs: number, o: TripOptions): Promise<{ trips: DetectedTrip[], stops: DetectedStop[] }> {
  const params: unknown[] = [id, microsToIso(fromUs), microsToIso(toUs)]
  if (o.start === 'speed') params.push(o.speedKmh)
  const { rows } = await db.query(vehicleBucketsSql(o.bucketS, o.start, o.allBuckets === true ? undefined : o.gapS), params)
  return detectTrips(toBuckets(rows, o.bucketS), o)
}

type DailyLine = DailyReport['vehicles'][number]

function summarize (vehicleId: string, bs: Bucket[], o: TripOptions): DailyLine {
  const { trips, stops } = detectTrips(bs, o)
  let max: number | null = null
  for (const t of trips) if (t.maxSpeedKmh !== null && (max === null || t.maxSpeedKmh > max)) max = t.maxSpeedKmh
  return {
    vehicle_id: vehicleId,
    distance_km: round(trips.reduce((a, t) => a + t.distanceKm, 0), 3),
    driving_s: round(trips.reduce((a, t) => a + (t.endUs - t.startUs) / 1e6, 0), 3),
    idling_s: stops.reduce((a, s) => a + s.idleS, 0),
    trips: trips.length,
    stops: stops.length,
    max_speed_kmh: max
  }
}

/** Vehicles whose buckets one query fetches: bounds the rows held at once. */
const VEHICLE_BATCH = 250

async function computeLines (db: Queryable, ids: string[], fromUs: number, toUs: number, o: TripOptions): Promise<Map<string, DailyLine>> {
  const out = new Map<string, DailyLine>()
  for (let k = 0; k < ids.length; k += VEHICLE_BATCH) {
    const batch = ids.slice(k, k + VEHICLE_BATCH)
    const params: unknown[] = [microsToIso(fromUs), microsToIso(toUs)]
    if (o.start === 'speed') params.push(o.speedKmh)
    params.push(...batch)
    const { rows } = await db.query(fleetBucketsSql(o.bucketS, o.start, batch.length, o.allBuckets === true ? undefined : o.gapS), params)
    let cur: string | null = null
    let bs: Bucket[] = []
    for (const r of rows) {
      const id = String(r.vehicle_id)
      if (id !== cur) {
        if (cur !== null) out.set(cur, summarize(cur, bs, o))
        cur = id
        bs = []
      }
      bs.push(rowToBucket(r, bs[bs.length - 1], o.bucketS))
    }
    if (cur !== null) out.set(cur, summarize(cur, bs, o))
  }
  return out
}

interface Cached { n: number, receivedUs: number | null, line: DailyLine }

export interface DailyReports {
  /** One line per vehicle with readings in the day [fromUs, fromUs + 1 day), by vehicle id. */
  lines: (db: Queryable, fromUs: number, toUs: number, vehicleId?: string) => Promise<DailyLine[]>
}

/**
 * Daily lines kept per day and vehicle, each beside the count and latest
 * arrival of the readings it was computed from: a request recomputes only the
 * vehicles whose readings changed since (late data), the rest are served as
 * computed. Per process, bounded to `maxDays` days; a restart recomputes.
 */
export function createDailyReports (o: TripOptions, maxDays = 62): DailyReports {
  const days = new Map<number, Map<string, Cached>>()
  return {
    async lines (db, fromUs, toUs, vehicleId) {
      const fresh = vehicleId === undefined
        ? await db.query(DAY_FRESHNESS_SQL, [microsToIso(fromUs), microsToIso(toUs)])
        : await db.query(DAY_FRESHNESS_ONE_SQL, [microsToIso(fromUs), microsToIso(toUs), vehicleId])
      let day = days.get(fromUs)
      if (!day) {
        day = new Map()
        days.set(fromUs, day)
        // the oldest day asked first goes first
        if (days.size > maxDays) days.delete(days.keys().next().value as number)
      }
      const state = new Map<string, { n: number, receivedUs: number | null }>()
      const stale: string[] = []
      for (const r of fresh.rows) {
        const id = String(r.vehicle_id)
        const n = Number(r.n)
        const receivedUs = r.received_us === null ? null : Number(r.received_us)
        state.set(id, { n, receivedUs })
        const c = day.get(id)
        if (!c || c.n !== n || c.receivedUs !== receivedUs) stale.push(id)
      }
      for (const [id, line] of await computeLines(db, stale, fromUs, toUs, o)) {
        day.set(id, { ...(state.get(id) as { n: number, receivedUs: number | null }), line })
      }
      const ids = [...state.keys()].sort()
      return ids.flatMap(id => { const c = day.get(id); return c ? [c.line] : [] })
    }
  }
}
