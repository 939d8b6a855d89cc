// Vehicles that move plausibly: speed changes with bounded acceleration,
// heading turns gradually, position follows speed and heading, the odometer
// only grows, fuel falls, and GPS adds a little noise. Same seed, same fleet.
import type { Reading } from '../../schemas/types.js'

export type Rng = () => number

/** mulberry32: small, fast, seedable. */
export function createRng (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface CityBox { minLon: number, minLat: number, maxLon: number, maxLat: number }
/** Johannesburg, roughly. */
export const DEFAULT_CITY: CityBox = { minLon: 27.85, minLat: -26.35, maxLon: 28.25, maxLat: -26.0 }

const EARTH_M_PER_DEG_LAT = 111320

export interface VehicleState {
  id: string
  lat: number
  lon: number
  speedKmh: number
  targetKmh: number
  headingDeg: number
  turnRate: number
  odometerKm: number
  fuelPct: number
  engineTempC: number
  ignition: boolean
  seq: number
  rng: Rng
}

export function createVehicle (id: string, index: number, seed: number, city: CityBox = DEFAULT_CITY): VehicleState {
  const rng = createRng((seed * 1000003 + index * 7919) >>> 0)
  return {
    id,
    lat: city.minLat + rng() * (city.maxLat - city.minLat),
    lon: city.minLon + rng() * (city.maxLon - city.minLon),
    speedKmh: 0,
    targetKmh: 20 + rng() * 60,
    headingDeg: rng() * 360,
    turnRate: 0,
    odometerKm: 1000 + rng() * 200000,
    fuelPct: 30 + rng() * 70,
    engineTempC: 20,
    ignition: true,
    seq: 0,
    rng
  }
}

/** Advances a vehicle by dt seconds and returns the reading it would report. */
export function step (v: VehicleState, dtS: number, nowMs: number, city: CityBox = DEFAULT_CITY): Reading {
  const rng = v.rng
  // a new target speed now and then: stops, city driving, arterials
  if (rng() < 0.02 * dtS) {
    const r = rng()
    v.targetKmh = r < 0.15 ? 0 : r < 0.7 ? 30 + rng() * 30 : 60 + rng() * 50
  }
  const maxDelta = (v.targetKmh > v.speedKmh ? 10 : 15) * dtS // km/h per second
  v.speedKmh += Math.max(-maxDelta, Math.min(maxDelta, v.targetKmh - v.speedKmh))
  v.speedKmh = Math.max(0, v.speedKmh)
  if (rng() < 0.05 * dtS) v.turnRate = (rng() - 0.5) * 30 // deg/s for a while
  if (rng() < 0.2 * dtS) v.turnRate = 0
  // steer back into the city when near its edge
  const margin = 0.01
  if (v.lat < city.minLat + margin || v.lat > city.maxLat - margin || v.lon < city.minLon + margin || v.lon > city.maxLon - margin) {
    const toCenter = Math.atan2((city.minLon + city.maxLon) / 2 - v.lon, (city.minLat + city.maxLat) / 2 - v.lat) * 180 / Math.PI
    v.headingDeg = (toCenter + 360) % 360
  } else if (v.speedKmh > 1) {
    v.headingDeg = ((v.headingDeg + v.turnRate * dtS) % 360 + 360) % 360
  }
  const distM = v.speedKmh / 3.6 * dtS
  const rad = v.headingDeg * Math.PI / 180
  v.lat += distM * Math.cos(rad) / EARTH_M_PER_DEG_LAT
  v.lon += distM * Math.sin(rad) / (EARTH_M_PER_DEG_LAT * Math.cos(v.lat * Math.PI / 180))
  v.odometerKm += distM / 1000
  v.fuelPct -= distM / 1000 * 0.012 + 0.0003 * dtS
  if (v.fuelPct < 8) v.fuelPct = 95 // refuelled
  v.engineTempC += (90 - v.engineTempC) * Math.min(1, 0.01 * dtS)
  v.seq++
  const noise = (): number => (rng() - 0.5) * 0.00004 // about +-2 m
  return {
    ts: new Date(nowMs).toISOString(),
    seq: v.seq,
    lat: round(v.lat + noise(), 6),
    lon: round(v.lon + noise(), 6),
    speed_kmh: round(v.speedKmh, 1),
    heading_deg: round(v.headingDeg, 1) % 360,
    odometer_km: round(v.odometerKm, 3),
    fuel_pct: round(Math.max(0, v.fuelPct), 2),
    engine_temp_c: round(v.engineTempC, 1),
    battery_v: round(13.6 + (rng() - 0.5) * 0.4, 2),
    rpm: Math.round(v.speedKmh > 0 ? 900 + v.speedKmh * 25 : 800),
    ignition: v.ignition
  }
}

function round (x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
