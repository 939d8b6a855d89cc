// GET /stats: vehicles online and known, and readings and rejections per
// minute over the last hour (readings by event time, rejections by receive
// time), minutes without any given as 0.
import type { FastifyPluginAsync } from 'fastify'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { Stats } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { allVehicles } from '../queries/vehicle-state.js'
import { errorResponses } from './route-schemas.js'

const MINUTE_US = 60e6

const perMinuteSql = (table: 'readings' | 'rejections'): string =>
  `SELECT cast(ts AS long) ts_us, n FROM (SELECT ts, count() n FROM ${table} WHERE ts >= $1 AND ts < $2 SAMPLE BY 1m FROM $1 TO $2)`

export interface StatsOptions { onlineWindowS: number }

const stats: FastifyPluginAsync<StatsOptions> = async (fastify, opts) => {
  fastify.get('/stats', {
    config: { role: 'read' },
    schema: {
      summary: 'Fleet counters and per-minute ingestion over the last hour',
      tags: ['stats'],
      security: [{ apiKey: [] }],
      response: { 200: ref('stats'), ...errorResponses }
    }
  }, async (): Promise<Stats> => {
    const nowUs = Date.now() * 1000
    const endUs = Math.floor(nowUs / MINUTE_US) * MINUTE_US + MINUTE_US
    const startUs = endUs - 61 * MINUTE_US
    const range = [microsToIso(startUs), microsToIso(endUs)]
    const [vehicles, readings, rejections] = await Promise.all([
      allVehicles(fastify.questdb, opts.onlineWindowS),
      fastify.questdb.query<{ ts_us: string, n: string }>(perMinuteSql('readings'), range),
      fastify.questdb.query<{ ts_us: string, n: string }>(perMinuteSql('rejections'), range)
    ])
    const minutes = new Map<number, { ts: string, readings: number, rejections: number }>()
    for (let us = startUs; us < endUs; us += MINUTE_US) minutes.set(us, { ts: microsToIso(us), readings: 0, rejections: 0 })
    for (const r of readings.rows) { const m = minutes.get(Number(r.ts_us)); if (m) m.readings = Number(r.n) }
    for (const r of rejections.rows) { const m = minutes.get(Number(r.ts_us)); if (m) m.rejections = Number(r.n) }
    return {
      vehicles_online: vehicles.filter(v => v.online).length,
      vehicles_total: vehicles.length,
      per_minute: [...minutes.values()]
    }
  })
}

export default stats
