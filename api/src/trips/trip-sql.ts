// SQL for trips and stops: QuestDB folds a vehicle's readings into buckets of
// a few seconds (SAMPLE BY), the api walks the buckets (trip-detect.ts). Each
// bucket keeps the first and last moving reading's time, so trip boundaries
// keep the readings' precision, not the bucket's. benchmarks/trips.bench.ts
// measures this against streaming every reading.
// Every value is a bind parameter; the bucket size and the moving test go into
// the text only as a checked integer and one of two fixed expressions.

export type TripStart = 'speed' | 'ignition'

/** What makes a reading "moving": speed over TRIP_SPEED_KMH ($4), or ignition on. */
function movingExpr (start: TripStart, speedParam: string): string {
  return start === 'ignition' ? 'ignition = true' : `speed_kmh > ${speedParam}`
}

function bucketText (bucketS: number): string {
  if (!Number.isSafeInteger(bucketS) || bucketS < 1 || bucketS > 3600) throw new RangeError(`bad trip bucket ${bucketS}`)
  return `${bucketS}s`
}

function aggregates (start: TripStart, speedParam: string): string {
  const m = movingExpr(start, speedParam)
  return `ts, cast(first(ts) AS long) t0, cast(last(ts) AS long) t1, count() n,
sum(CASE WHEN ${m} THEN 1 ELSE 0 END) moving_n,
cast(min(CASE WHEN ${m} THEN ts END) AS long) m0, cast(max(CASE WHEN ${m} THEN ts END) AS long) m1,
sum(CASE WHEN ignition = true AND NOT (${m}) THEN 1 ELSE 0 END) idle_n,
first(lat) lat0, first(lon) lon0, last(lat) lat1, last(lon) lon1, max(speed_kmh) vmax,
first_not_null(odometer_km) odo0, last_not_null(odometer_km) odo1, first_not_null(fuel_pct) fuel0, last_not_null(fuel_pct) fuel1`
}

/**
 * Leaves out the buckets detection needs not see: a bucket stays when it has
 * moving or idling readings, is next to one with moving readings, or borders
 * a gap longer than gapS (or the range). Each row carries the previous
 * bucket's last reading (prev_t1) so that gaps stay known; a parked night
 * becomes its two ends. gapS goes into the text as a checked integer.
 */
function onlyChanges (buckets: string, partition: string, gapS: number): string {
  if (!Number.isSafeInteger(gapS) || gapS < 1) throw new RangeError(`bad gap ${gapS}`)
  const w = `OVER (${partition}ORDER BY ts)`
  const gapUs = gapS * 1e6
  return `SELECT * FROM (SELECT *, lag(t1) ${w} prev_t1, lead(t0) ${w} next_t0, lag(moving_n) ${w} prev_moving, lead(moving_n) ${w} next_moving
FROM (${buckets}))
WHERE moving_n > 0 OR idle_n > 0 OR prev_moving > 0 OR next_moving > 0 OR prev_t1 IS NULL OR next_t0 IS NULL OR t0 - prev_t1 > ${gapUs} OR next_t0 - t1 > ${gapUs}`
}

/**
 * One vehicle's buckets in [$2, $3), oldest first: $1 vehicle id, $4 speed
 * threshold (unused by 'ignition'); with gapS only those that matter.
 */
export function vehicleBucketsSql (bucketS: number, start: TripStart, gapS?: number): string {
  const buckets = `SELECT ${aggregates(start, '$4')}
FROM readings WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3
SAMPLE BY ${bucketText(bucketS)} ALIGN TO CALENDAR`
  return gapS === undefined ? `SELECT * FROM (${buckets}) ORDER BY t0` : `${onlyChanges(buckets, '', gapS)} ORDER BY t0`
}

/**
 * Buckets of the listed vehicles in [$1, $2), by vehicle, oldest first within
 * each: $3 the speed threshold (not with 'ignition'), then one parameter per
 * vehicle id.
 */
export function fleetBucketsSql (bucketS: number, start: TripStart, vehicles: number, gapS?: number): string {
  if (!Number.isSafeInteger(vehicles) || vehicles < 1 || vehicles > 10000) throw new RangeError(`bad vehicle count ${vehicles}`)
  const first = start === 'speed' ? 4 : 3
  const ids = Array.from({ length: vehicles }, (_, i) => `$${first + i}`).join(', ')
  const buckets = `SELECT vehicle_id, ${aggregates(start, '$3')}
FROM readings WHERE ts >= $1 AND ts < $2 AND vehicle_id IN (${ids})
SAMPLE BY ${bucketText(bucketS)} ALIGN TO CALENDAR`
  return gapS === undefined ? `SELECT * FROM (${buckets}) ORDER BY vehicle_id, t0` : `${onlyChanges(buckets, 'PARTITION BY vehicle_id ', gapS)} ORDER BY vehicle_id, t0`
}

/**
 * Per vehicle with readings in [$1, $2): how many, and when the latest of
 * them arrived. A summary computed from the same count and arrival is still
 * true; late readings (a backlog, a replay) change one or the other.
 */
export const DAY_FRESHNESS_SQL = `SELECT vehicle_id, count() n, cast(max(received_at) AS long) received_us
FROM readings WHERE ts >= $1 AND ts < $2`

export const DAY_FRESHNESS_ONE_SQL = `SELECT vehicle_id, count() n, cast(max(received_at) AS long) received_us
FROM readings WHERE ts >= $1 AND ts < $2 AND vehicle_id = $3`
