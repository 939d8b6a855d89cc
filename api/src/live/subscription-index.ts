// Routes a position to the subscriptions that want it without testing every
// subscription: id lists by vehicle, "*" without a box in one set, and "*"
// with a box in a coarse grid of 5-degree cells (a box is entered in every
// cell it overlaps; a position looks at its one cell and tests those boxes).
import { inBox } from '../bbox.js'
import type { Subscription } from './subscription.js'

const CELL_DEG = 5
const COLS = 360 / CELL_DEG
const ROWS = 180 / CELL_DEG

function col (lon: number): number { return Math.min(COLS - 1, Math.max(0, Math.floor((lon + 180) / CELL_DEG))) }
function row (lat: number): number { return Math.min(ROWS - 1, Math.max(0, Math.floor((lat + 90) / CELL_DEG))) }

function cellsOf (b: [number, number, number, number]): number[] {
  const [minLon, minLat, maxLon, maxLat] = b
  const cols: number[] = []
  if (minLon <= maxLon) for (let c = col(minLon); c <= col(maxLon); c++) cols.push(c)
  else {
    for (let c = col(minLon); c < COLS; c++) cols.push(c)
    for (let c = 0; c <= col(maxLon); c++) cols.push(c)
  }
  const out: number[] = []
  for (let r = row(minLat); r <= row(maxLat); r++) for (const c of cols) out.push(r * COLS + c)
  return out
}

interface Entry { sub: Subscription, cells: number[] | null }

export class SubscriptionIndex<T> {
  private readonly entries = new Map<T, Entry>()
  private readonly everyone = new Set<T>()
  private readonly byVehicle = new Map<string, Set<T>>()
  private readonly grid = new Map<number, Set<T>>()

  get size (): number { return this.entries.size }

  set (key: T, sub: Subscription): void {
    this.delete(key)
    const entry: Entry = { sub, cells: null }
    if (!sub.all) {
      for (const id of sub.ids) {
        let s = this.byVehicle.get(id)
        if (!s) this.byVehicle.set(id, (s = new Set()))
        s.add(key)
      }
    } else if (sub.bbox === null) {
      this.everyone.add(key)
    } else {
      entry.cells = cellsOf(sub.bbox)
      for (const cell of entry.cells) {
        let s = this.grid.get(cell)
        if (!s) this.grid.set(cell, (s = new Set()))
        s.add(key)
      }
    }
    this.entries.set(key, entry)
  }

  delete (key: T): void {
    const entry = this.entries.get(key)
    if (!entry) return
    this.entries.delete(key)
    const { sub } = entry
    if (!sub.all) {
      for (const id of sub.ids) {
        const s = this.byVehicle.get(id)
        if (s) { s.delete(key); if (s.size === 0) this.byVehicle.delete(id) }
      }
    } else if (entry.cells === null) {
      this.everyone.delete(key)
    } else {
      for (const cell of entry.cells) {
        const s = this.grid.get(cell)
        if (s) { s.delete(key); if (s.size === 0) this.grid.delete(cell) }
      }
    }
  }

  /** Calls fn once for every subscription that wants a position of vehicleId at (lat, lon). */
  forEachMatch (vehicleId: string, lat: number | undefined, lon: number | undefined, fn: (key: T) => void): void {
    for (const k of this.everyone) fn(k)
    const listed = this.byVehicle.get(vehicleId)
    if (listed) {
      for (const k of listed) {
        const b = (this.entries.get(k) as Entry).sub.bbox
        if (b === null || (lat !== undefined && lon !== undefined && inBox(lat, lon, b))) fn(k)
      }
    }
    if (lat === undefined || lon === undefined || this.grid.size === 0) return
    const inCell = this.grid.get(row(lat) * COLS + col(lon))
    if (!inCell) return
    for (const k of inCell) {
      if (inBox(lat, lon, (this.entries.get(k) as Entry).sub.bbox as [number, number, number, number])) fn(k)
    }
  }
}
