// Vehicles that drive a street network: trips of a few kilometres along roads,
// target speeds from the road type, bounded acceleration and braking, stops at
// junctions, parking with the ignition off between trips, fuel that falls and
// is refilled, an odometer that only grows, and GPS noise on top. Pure and
// deterministic: the same seed and the same sequence of time steps give the
// same readings.
import type { Reading } from '../../schemas/types.js'
import { bearingDeg, createRng, DEFAULT_CITY, generateNetwork, STOP_CHANCE, type CityBox, type RoadEdge, type RoadNetwork, type Rng } from './roads.js'

export { createRng, DEFAULT_CITY, type CityBox, type Rng }

const ACCEL_MS2 = 1.8
const BRAKE_MS2 = 2.8
/** GPS error, metres (standard deviation). */
export const GPS_SIGMA_M = 3
const M_PER_DEG_LAT = 111320

export interface ModelOptions {
  /** Parking time between trips, seconds [min, max]. */
  parkS?: [number, number]
  /** Trip length, metres [min, max]. */
  tripM?: [number, number]
  /** Time stopped at a junction, seconds [min, max]. */
  dwellS?: [number, number]
}

export interface VehicleState {
  id: string
  rng: Rng
  net: RoadNetwork
  edge: number
  /** true: driving from edge.a to edge.b */
  forward: boolean
  /** metres along the edge in the direction of travel */
  posM: number
  speedMs: number
  /** the driver's share of the limit */
  temper: number
  stopAtEnd: boolean
  dwellS: number
  parkedS: number
  tripLeftM: number
  ignition: boolean
  odometerKm: number
  fuelPct: number
  engineTempC: number
  seq: number
  refuels: number
  opts: Required<ModelOptions>
}

const DEFAULTS: Required<ModelOptions> = { parkS: [20, 180], tripM: [1500, 9000], dwellS: [2, 25] }

function between (rng: Rng, [lo, hi]: [number, number]): number {
  return lo + rng() * (hi - lo)
}

export function createVehicle (id: string, index: number, seed: number, net: RoadNetwork, opts: ModelOptions = {}): VehicleState {
  const rng = createRng((Math.imul(seed, 1000003) + Math.imul(index, 7919)) >>> 0)
  const o = { ...DEFAULTS, ...opts }
  const edge = Math.floor(rng() * net.edges.length)
  const e = net.edges[edge] as RoadEdge
  const parked = rng() < 0.3
  return {
    id,
    rng,
    net,
    edge,
    forward: rng() < 0.5,
    posM: rng() * e.lengthM,
    speedMs: 0,
    temper: 0.85 + rng() * 0.25,
    stopAtEnd: rng() < STOP_CHANCE[e.type],
    dwellS: 0,
    parkedS: parked ? between(rng, o.parkS) : 0,
    tripLeftM: parked ? 0 : between(rng, o.tripM),
    ignition: !parked,
    odometerKm: 1000 + rng() * 200000,
    fuelPct: 15 + rng() * 85,
    engineTempC: parked ? 25 : 88,
    seq: 0,
    refuels: 0,
    opts: o
  }
}

/** The default network of a seed (what `simulate` drives on without a GeoJSON file). */
export function networkForSeed (seed: number, city: CityBox = DEFAULT_CITY): RoadNetwork {
  return generateNetwork({ seed, city })
}

function endNode (v: VehicleState, e: RoadEdge): number {
  return v.forward ? e.b : e.a
}

/** Next edge at a junction: not back where we came from unless it is a dead end; straight on is likelier. */
function chooseNext (v: VehicleState): void {
  const net = v.net
  const cur = net.edges[v.edge] as RoadEdge
  const node = endNode(v, cur)
  const here = net.nodes[node] as { lat: number, lon: number }
  const fromNode = net.nodes[v.forward ? cur.a : cur.b] as { lat: number, lon: number }
  const inBearing = bearingDeg(fromNode.lat, fromNode.lon, here.lat, here.lon)
  const options = (net.adjacent[node] ?? []).filter(i => i !== v.edge)
  let next = v.edge
  if (options.length > 0) {
    const weights = options.map(i => {
      const e = net.edges[i] as RoadEdge
      const other = net.nodes[e.a === node ? e.b : e.a] as { lat: number, lon: number }
      const turn = Math.abs(((bearingDeg(here.lat, here.lon, other.lat, other.lon) - inBearing + 540) % 360) - 180)
      return (turn < 30 ? 3 : 1) * (e.type === 'residential' ? 1 : 1.5)
    })
    let r = v.rng() * weights.reduce((a, b) => a + b, 0)
    next = options[options.length - 1] as number
    for (let i = 0; i < options.length; i++) {
      r -= weights[i] as number
      if (r <= 0) { next = options[i] as number; break }
    }
  }
  const e = net.edges[next] as RoadEdge
  v.forward = next === v.edge ? !v.forward : e.a === node
  v.edge = next
  v.posM = 0
  v.stopAtEnd = v.rng() < STOP_CHANCE[e.type]
}

/** Advances the vehicle by at most one second. */
function advance (v: VehicleState, dt: number): void {
  if (v.parkedS > 0) {
    v.speedMs = 0
    v.parkedS -= dt
    v.engineTempC += (25 - v.engineTempC) * Math.min(1, 0.002 * dt)
    if (v.parkedS <= 0) {
      v.parkedS = 0
      v.ignition = true
      v.tripLeftM = between(v.rng, v.opts.tripM)
    }
    return
  }
  v.engineTempC += (90 - v.engineTempC) * Math.min(1, 0.01 * dt)
  v.fuelPct -= 0.0004 * dt // idling
  if (v.dwellS > 0) {
    v.speedMs = 0
    v.dwellS -= dt
    return
  }
  const e = v.net.edges[v.edge] as RoadEdge
  const left = e.lengthM - v.posM
  const mustStop = v.stopAtEnd || v.tripLeftM <= left
  const limit = e.limitKmh / 3.6 * v.temper
  const brakeTo = mustStop ? Math.sqrt(2 * BRAKE_MS2 * Math.max(0, left - 1)) : Infinity
  const target = Math.min(limit, brakeTo)
  const dv = target - v.speedMs
  const v0 = v.speedMs
  v.speedMs = Math.max(0, v.speedMs + Math.max(-BRAKE_MS2 * 1.5 * dt, Math.min(ACCEL_MS2 * dt, dv)))
  // creep the last metre rather than stall short of the junction
  if (mustStop && v.speedMs < 0.5 && left > 0.05) v.speedMs = Math.min(left / dt, 0.5)
  let d = (v0 + v.speedMs) / 2 * dt
  if (mustStop && d >= left) d = left
  v.posM += d
  v.tripLeftM -= d
  v.odometerKm += d / 1000
  v.fuelPct -= d / 1000 * 0.09
  if (v.posM >= e.lengthM - 1e-6) {
    const carry = v.posM - e.lengthM
    if (mustStop) {
      v.speedMs = 0
      if (v.tripLeftM <= 1) {
        // trip over: park with the ignition off, refuel when low
        v.ignition = false
        v.parkedS = between(v.rng, v.opts.parkS)
        if (v.fuelPct < 20) { v.fuelPct = 90 + v.rng() * 10; v.refuels++ }
        chooseNext(v)
        return
      }
      v.dwellS = between(v.rng, v.opts.dwellS)
    }
    chooseNext(v)
    v.posM = Math.max(0, carry)
  }
  if (v.fuelPct < 3) { v.fuelPct = 90 + v.rng() * 10; v.refuels++ } // roadside can
}

function gaussian (rng: Rng): number {
  const u = Math.max(rng(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng())
}

/** Where the vehicle is, without noise: lat, lon and heading of its edge. */
export function position (v: VehicleState): { lat: number, lon: number, headingDeg: number } {
  const e = v.net.edges[v.edge] as RoadEdge
  const from = v.net.nodes[v.forward ? e.a : e.b] as { lat: number, lon: number }
  const to = v.net.nodes[v.forward ? e.b : e.a] as { lat: number, lon: number }
  const f = e.lengthM > 0 ? Math.min(1, v.posM / e.lengthM) : 0
  return { lat: from.lat + (to.lat - from.lat) * f, lon: from.lon + (to.lon - from.lon) * f, headingDeg: bearingDeg(from.lat, from.lon, to.lat, to.lon) }
}

/** Moving (or about to): reports at the moving rate; parked vehicles report less often. */
export function isParked (v: VehicleState): boolean {
  return v.parkedS > 0
}

// Date#toISOString for the simulator's timestamps: every vehicle reports in
// the current second, so its 'YYYY-MM-DDTHH:MM:SS.' is made once a second and
// only the milliseconds per reading (a third of step()'s time otherwise).
let isoSecond = NaN
let isoPrefix = ''
export function isoTimestamp (ms: number): string {
  // before 1970, after 9999 or not a time: as the Date has it (or throws)
  if (!(ms >= 0 && ms < 253402300800000)) return new Date(ms).toISOString()
  const whole = Math.floor(ms) // a Date drops fractions of a millisecond
  const second = Math.floor(whole / 1000)
  if (second !== isoSecond) {
    isoSecond = second
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20)
  }
  const milli = whole - second * 1000
  return isoPrefix + (milli < 10 ? '00' : milli < 100 ? '0' : '') + milli + 'Z'
}

/** Advances a vehicle by dtS seconds and returns the reading it reports at nowMs. */
export function step (v: VehicleState, dtS: number, nowMs: number): Reading {
  let left = Math.max(0, dtS)
  while (left > 1e-9) {
    const dt = Math.min(1, left)
    advance(v, dt)
    left -= dt
  }
  v.seq++
  const p = position(v)
  const rng = v.rng
  const nLat = gaussian(rng) * GPS_SIGMA_M / M_PER_DEG_LAT
  const nLon = gaussian(rng) * GPS_SIGMA_M / (M_PER_DEG_LAT * Math.cos(p.lat * Math.PI / 180))
  const kmh = v.speedMs * 3.6
  return {
    ts: isoTimestamp(nowMs),
    seq: v.seq,
    lat: round(p.lat + nLat, 6),
    lon: round(p.lon + nLon, 6),
    speed_kmh: round(kmh, 1),
    heading_deg: round(p.headingDeg, 1) % 360,
    alt_m: round(1700 + 40 * Math.sin(p.lat * 900) + 25 * Math.cos(p.lon * 700), 1),
    odometer_km: round(v.odometerKm, 3),
    fuel_pct: round(Math.min(100, Math.max(0, v.fuelPct)), 2),
    engine_temp_c: round(v.engineTempC, 1),
    battery_v: round(v.ignition ? 13.9 + (rng() - 0.5) * 0.3 : 12.5 + (rng() - 0.5) * 0.2, 2),
    rpm: v.ignition ? Math.round(kmh > 0.5 ? 900 + kmh * 28 : 780 + rng() * 40) : 0,
    ignition: v.ignition
  }
}

function round (x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
