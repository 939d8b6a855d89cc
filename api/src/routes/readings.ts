// GET /vehicles/:id/readings: raw history, oldest or newest first (order),
// keyset-paginated on ts in either order (QuestDB has no OFFSET; ts is unique
// per vehicle thanks to DEDUP UPSERT KEYS(ts, vehicle_id)).
// POST /vehicles/:id/readings: HTTP ingestion and backfill through the same
// to-rows and pipeline as MQTT, answered once the accepted rows are durable.
import type { FastifyPluginAsync } from 'fastify'
import type { Pipeline } from '../../../gateway/src/index.js'
import { microsToIso } from '../../../schemas/timestamps.js'
import type { IngestResult, ReadingsPage, ReadingsQuery } from '../../../schemas/types.js'
import { apiSchema, ref } from '../api-schemas.js'
import { decodeCursorFor, encodeCursor } from '../queries/cursor.js'
import { API_ERR_PAYLOAD_TOO_LARGE, API_ERR_UNAVAILABLE, API_ERR_VALIDATION } from '../errors.js'
import { READINGS_PAGE_DESC_SQL, READINGS_PAGE_SQL, rowToPosition } from '../queries/readings-sql.js'
import { parseRange } from '../queries/time-range.js'
import { errorResponses, idParams } from './route-schemas.js'

export const MAX_RANGE_DAYS = 31
export const MAX_LIMIT = (apiSchema('readings-query').properties as { limit: { maximum: number } }).limit.maximum

type Query = ReadingsQuery & Required<Pick<ReadingsQuery, 'limit' | 'order'>>

export interface ReadingsOptions {
  pipeline: Pipeline
  /** Largest request body (MAX_PAYLOAD_BYTES, as for MQTT). */
  maxPayloadBytes: number
}

const WHOLE_PAYLOAD = new Set(['too_large', 'batch_too_large', 'invalid_json'])

const readings: FastifyPluginAsync<ReadingsOptions> = async (fastify, opts) => {
  fastify.get<{ Params: { id: string }, Querystring: Query }>('/vehicles/:id/readings', {
    config: { role: 'read' },
    schema: {
      summary: 'Raw readings of a vehicle, oldest or newest first, keyset-paginated',
      tags: ['readings'],
      security: [{ apiKey: [] }],
      params: idParams,
      querystring: ref('readings-query'),
      response: { 200: ref('readings-page'), ...errorResponses }
    }
  }, async (request): Promise<ReadingsPage> => {
    const { id } = request.params
    const q = request.query
    let { fromUs, toUs } = parseRange(q, MAX_RANGE_DAYS)
    // the page resumes strictly after the cursor's ts, forward or backward
    if (q.cursor) {
      const c = decodeCursorFor(q.cursor, q.order)
      if (q.order === 'desc') toUs = Math.min(toUs, c.tsUs)
      else fromUs = Math.max(fromUs, c.tsUs + 1)
    }
    if (fromUs >= toUs) return { vehicle_id: id, readings: [], next_cursor: null }
    const sql = q.order === 'desc' ? READINGS_PAGE_DESC_SQL : READINGS_PAGE_SQL
    const { rows } = await fastify.questdb.query(sql, [id, microsToIso(fromUs), microsToIso(toUs), q.limit])
    const last = rows[rows.length - 1]
    return {
      vehicle_id: id,
      readings: rows.map(r => rowToPosition(r, id)),
      next_cursor: rows.length === q.limit && last ? encodeCursor(Number(last.ts_us), undefined, q.order) : null
    }
  })

  fastify.post<{ Params: { id: string }, Body: unknown[] }>('/vehicles/:id/readings', {
    config: { role: 'ingest' },
    bodyLimit: opts.maxPayloadBytes,
    schema: {
      summary: 'Ingest or backfill readings; answered once they are durable',
      description: 'Each item is validated like an MQTT reading. Accepted items are stored (idempotently: DEDUP on ts and vehicle id), rejected ones quarantined and listed in `results`. The answer comes once QuestDB (or the gateway spool) holds the accepted items.',
      tags: ['readings'],
      security: [{ apiKey: [] }],
      params: idParams,
      body: ref('ingest-request'),
      response: { 200: ref('ingest-result'), ...errorResponses, 413: errorResponses[400], 503: errorResponses[400] }
    }
  }, async (request): Promise<IngestResult> => {
    const { id } = request.params
    const topic = `http:POST /api/v1/vehicles/${id}/readings`
    let outcome
    try {
      outcome = await opts.pipeline.ingest(id, 'telemetry', topic, Buffer.from(JSON.stringify(request.body)))
    } catch (err) {
      request.log.error({ err }, 'http ingest not durable')
      throw new API_ERR_UNAVAILABLE('the readings could not be made durable; retry later (a retry is harmless: readings are deduplicated)', { cause: err })
    }
    const whole = outcome.rejections.find(r => WHOLE_PAYLOAD.has(r.reason))
    if (whole) throw (whole.reason === 'too_large' ? new API_ERR_PAYLOAD_TOO_LARGE(whole.detail) : new API_ERR_VALIDATION(whole.detail))
    const results = outcome.rejections.map(r => {
      // a batch item's detail starts with its index: "[3]/lat must be <= 90"
      const m = /^\[(\d+)\]/.exec(r.detail)
      return { index: m ? Number(m[1]) : 0, reason: r.reason, detail: m ? r.detail.slice(m[0].length) : r.detail }
    })
    return { accepted: outcome.readings, rejected: results.length, results }
  })
}

export default readings
