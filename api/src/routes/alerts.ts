// GET /alerts: alerts newest first, by vehicle, type, geofence and time,
// paged by the id of the last alert of a page (ts, then vehicle, geofence and
// type: the alerts table's DEDUP key, so each alert is listed once).
// POST /alerts/:alertId/ack: who (the API key's id) and when.
import type { FastifyPluginAsync } from 'fastify'
import type { Alert, AlertList, AlertsQuery } from '../../../schemas/types.js'
import { alertId, parseAlertId, type AlertKey } from '../../../gateway/src/index.js'
import { microsToIso, toEpochMicros } from '../../../schemas/timestamps.js'
import { ref } from '../api-schemas.js'
import { API_ERR_BAD_CURSOR, API_ERR_BAD_RANGE, API_ERR_NOT_FOUND } from '../errors.js'
import { errorResponses } from './route-schemas.js'

const COLUMNS = 'cast(ts AS long) ts_us, vehicle_id, type, geofence_id, geofence_name, lat, lon, speed_kmh, acked_by, cast(acked_at AS long) acked_us'
const problem = { description: 'application/problem+json (RFC 9457)', content: { 'application/problem+json': { schema: ref('problem') } } }

interface Row { ts_us: string, vehicle_id: string, type: Alert['type'], geofence_id: string, geofence_name: string | null, lat: number | null, lon: number | null, speed_kmh: number | null, acked_by: string | null, acked_us: string | null }

function toAlert (r: Row): Alert {
  const key: AlertKey = { vehicleId: r.vehicle_id, geofenceId: r.geofence_id, type: r.type, tsUs: Number(r.ts_us) }
  return {
    id: alertId(key),
    ts: microsToIso(key.tsUs),
    vehicle_id: r.vehicle_id,
    type: r.type,
    geofence_id: r.geofence_id,
    geofence_name: r.geofence_name ?? r.geofence_id,
    lat: r.lat ?? 0,
    lon: r.lon ?? 0,
    speed_kmh: r.speed_kmh,
    acked_by: r.acked_by,
    acked_at: r.acked_us === null ? null : microsToIso(Number(r.acked_us))
  }
}

/** Page order within one instant: vehicle, geofence, type (ascending). */
function tie (a: Alert, b: Alert): number {
  const ka = `${a.vehicle_id}.${a.geofence_id}.${a.type}`
  const kb = `${b.vehicle_id}.${b.geofence_id}.${b.type}`
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

function badCursor (): Error {
  return new API_ERR_BAD_CURSOR('before must be next_before of a previous page, unchanged')
}

const alerts: FastifyPluginAsync = async (fastify) => {
  fastify.get<{ Querystring: AlertsQuery & { limit: number } }>('/alerts', {
    config: { role: 'read' },
    schema: { summary: 'Alerts, newest first', tags: ['alerts'], security: [{ apiKey: [] }], querystring: ref('alerts-query'), response: { 200: ref('alert-list'), ...errorResponses } }
  }, async (request): Promise<AlertList> => {
    const q = request.query
    const params: unknown[] = []
    // fixed fragments only; every value is a bind parameter
    const where: string[] = []
    const add = (sql: string, v: unknown): void => { params.push(v); where.push(sql.replace('?', `$${params.length}`)) }
    if (q.vehicle_id) add('vehicle_id = ?', q.vehicle_id)
    if (q.type) add('type = ?', q.type)
    if (q.geofence_id) add('geofence_id = ?', q.geofence_id)
    for (const [name, op] of [['from', '>='], ['to', '<']] as const) {
      const v = q[name]
      if (v === undefined) continue
      const us = toEpochMicros(v)
      if (!Number.isFinite(us)) throw new API_ERR_BAD_RANGE(`${name} must be an RFC 3339 date-time with a zone`)
      add(`ts ${op} ?`, microsToIso(us))
    }
    const cursor = q.before === undefined ? null : parseAlertId(q.before)
    if (q.before !== undefined && cursor === null) throw badCursor()

    async function select (extra: string, value: unknown, limit?: number): Promise<Alert[]> {
      const p = [...params, value]
      const w = [...where, extra.replace('?', `$${p.length}`)]
      let sql = `SELECT ${COLUMNS} FROM alerts WHERE ${w.join(' AND ')} ORDER BY ts DESC`
      if (limit !== undefined) { p.push(limit); sql += ` LIMIT $${p.length}` }
      const { rows } = await fastify.questdb.query(sql, p)
      return (rows as Row[]).map(toAlert)
    }

    const page: Alert[] = []
    if (cursor) {
      // the rest of the cursor's instant, in page order
      const c = { vehicle_id: cursor.vehicleId, geofence_id: cursor.geofenceId, type: cursor.type } as Alert
      page.push(...(await select('ts = ?', microsToIso(cursor.tsUs))).sort(tie).filter(a => tie(a, c) > 0))
    }
    const older = await select('ts < ?', microsToIso(cursor ? cursor.tsUs : 8e15), q.limit)
    const last = older[older.length - 1]
    if (older.length === q.limit && last) {
      // the last instant may hold more alerts than the LIMIT let through: take it whole, in page order
      const lastTs = last.ts
      page.push(...older.filter(a => a.ts !== lastTs), ...(await select('ts = ?', lastTs)).sort(tie))
    } else {
      page.push(...older)
    }
    const more = page.length > q.limit || older.length === q.limit
    const out = page.slice(0, q.limit)
    return { alerts: out, next_before: more && out.length > 0 ? (out[out.length - 1] as Alert).id : null }
  })

  fastify.post<{ Params: { alertId: string } }>('/alerts/:alertId/ack', {
    config: { role: 'admin' },
    schema: {
      summary: 'Acknowledge an alert (records the API key id and the time)',
      tags: ['alerts'],
      security: [{ apiKey: [] }],
      params: { type: 'object', required: ['alertId'], properties: { alertId: { type: 'string', maxLength: 200 } } },
      response: { 200: ref('alert'), ...errorResponses, 404: problem }
    }
  }, async (request): Promise<Alert> => {
    const key = parseAlertId(request.params.alertId)
    if (!key) throw new API_ERR_NOT_FOUND(`no alert ${request.params.alertId}`)
    const match = 'ts = $1 AND vehicle_id = $2 AND geofence_id = $3 AND type = $4'
    const at = [microsToIso(key.tsUs), key.vehicleId, key.geofenceId, key.type]
    const { rows } = await fastify.questdb.query(`SELECT ${COLUMNS} FROM alerts WHERE ${match}`, at)
    const row = (rows as Row[])[0]
    if (!row) throw new API_ERR_NOT_FOUND(`no alert ${request.params.alertId}`)
    const by = request.apiKey?.id ?? 'anonymous'
    const nowUs = Date.now() * 1000
    await fastify.questdb.query(`UPDATE alerts SET acked_by = $5, acked_at = $6 WHERE ${match}`, [...at, by, microsToIso(nowUs)])
    request.log.info({ alertId: request.params.alertId, key: request.apiKey?.id }, 'alert acknowledged')
    return { ...toAlert(row), acked_by: by, acked_at: microsToIso(nowUs) }
  })
}

export default alerts
