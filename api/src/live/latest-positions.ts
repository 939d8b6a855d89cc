// The latest position of every vehicle the live feed has seen: the snapshot a
// subscriber gets first, and the place of an event or status without its own.
// Seeded from QuestDB (LATEST ON) at start, kept current from the live stream.
import type { Position } from '../../../schemas/live.js'
import type pg from 'pg'
import { LATEST_SQL, rowToPosition } from '../queries/readings-sql.js'
import { matches, type Subscription } from './subscription.js'

export class LatestPositions {
  private readonly byVehicle = new Map<string, Position>()

  /** Keeps p unless a newer position of its vehicle is known (the stream and the seed may race). */
  keep (p: Position): void {
    const prev = this.byVehicle.get(p.vehicle_id)
    if (!prev || p.ts >= prev.ts) this.byVehicle.set(p.vehicle_id, p)
  }

  get (vehicleId: string): Position | undefined {
    return this.byVehicle.get(vehicleId)
  }

  /** The latest positions matching a subscription. */
  snapshot (sub: Subscription): Position[] {
    const out: Position[] = []
    if (sub.all) {
      for (const p of this.byVehicle.values()) if (matches(sub, p.vehicle_id, p.lat, p.lon)) out.push(p)
    } else {
      for (const id of sub.ids) {
        const p = this.byVehicle.get(id)
        if (p && matches(sub, id, p.lat, p.lon)) out.push(p)
      }
    }
    return out
  }

  /** Fills in, from QuestDB, the vehicles the stream has not shown newer data for. */
  async seed (questdb: Pick<pg.Pool, 'query'>): Promise<void> {
    const { rows } = await questdb.query(LATEST_SQL)
    for (const r of rows) {
      const { received_at: _received, ...p } = rowToPosition(r)
      this.keep(p)
    }
  }
}
