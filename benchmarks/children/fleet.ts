// The live bench's synthetic fleet, driven the same way by both of its
// children: the MQTT publisher (live-publisher.ts) and the api's direct source
// (live-api.ts). Each vehicle starts somewhere in the region and takes a small
// random step once per period, the period spread over 50 slots; the walk is
// seeded, so every run sees the same fleet.

export interface Region { lon: number, lat: number, size: number }
export interface WalkingVehicle { lat: number, lon: number, seq: number }
export interface FleetReading { ts: string, seq: number, lat: number, lon: number, speed_kmh: number, heading_deg: number, ignition: boolean }

const SLOTS = 50

export function createFleetWalk (region: Region, seed = 11): {
  /** A start position in the region. */
  place: () => { lat: number, lon: number }
  /** Steps every vehicle once per 1/hz s; `send` gets each one's new reading (ts = now). */
  drive: <V extends WalkingVehicle>(vehicles: V[], hz: number, send: (v: V, reading: FleetReading) => void) => NodeJS.Timeout
} {
  let s = seed >>> 0
  const rand = (): number => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
  return {
    place: () => ({ lat: region.lat + rand() * region.size, lon: region.lon + rand() * region.size }),
    drive (vehicles, hz, send) {
      let slot = 0
      return setInterval(() => {
        const from = Math.floor(slot * vehicles.length / SLOTS)
        const to = Math.floor((slot + 1) * vehicles.length / SLOTS)
        slot = (slot + 1) % SLOTS
        for (let i = from; i < to; i++) {
          const v = vehicles[i] as typeof vehicles[number]
          v.lat = Math.min(region.lat + region.size, Math.max(region.lat, v.lat + (rand() - 0.5) * 0.002))
          v.lon = Math.min(region.lon + region.size, Math.max(region.lon, v.lon + (rand() - 0.5) * 0.002))
          send(v, { ts: new Date().toISOString(), seq: v.seq++, lat: v.lat, lon: v.lon, speed_kmh: 50, heading_deg: 90, ignition: true })
        }
      }, 1000 / hz / SLOTS)
    }
  }
}
