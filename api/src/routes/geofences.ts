// Geofences over the API: GeoJSON geometries in and out. Reads for role read,
// writes for admin. Writes append to DATA_DIR/geofences.jsonl, which every
// gateway and api process on that DATA_DIR follows (and, with REDIS_URL, every
// node through the registry stream): a change applies within a second.
import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { Geofence, GeofenceInput, GeofenceList, GeofencesQuery } from '../../../schemas/types.js'
import { deleteGeofence, putGeofence, type GeofenceStore } from '../../../gateway/src/index.js'
import { geometryProblem } from '../../../gateway/src/index.js'
import { ref } from '../api-schemas.js'
import { API_ERR_BAD_REQUEST, API_ERR_CONFLICT, API_ERR_NOT_FOUND, GEOFENCE_ERRORS } from '../errors.js'
import { parseBbox } from './positions.js'
import { errorResponses } from './route-schemas.js'

export interface GeofenceRoutesOptions {
  dataDir: string
  store: GeofenceStore
  /** GEOFENCE_MAX_VERTICES */
  maxVertices: number
}

const problem = { description: 'application/problem+json (RFC 9457)', content: { 'application/problem+json': { schema: ref('problem') } } }
const errors = { ...errorResponses, 404: problem, 409: problem }
const params = { type: 'object', required: ['geofenceId'], properties: { geofenceId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'The geofence\'s id.' } } } as const
const read = { config: { role: 'read' as const } }
const admin = { config: { role: 'admin' as const } }
const base = { tags: ['geofences'], security: [{ apiKey: [] }] }

function notFound (id: string): Error {
  return new API_ERR_NOT_FOUND(`no geofence ${id}`)
}

const geofences: FastifyPluginAsync<GeofenceRoutesOptions> = async (fastify, opts) => {
  const { store, dataDir } = opts

  /** The geometry checks the schema cannot make: 400 with the problem's own code. */
  function check (body: GeofenceInput): void {
    const problem = geometryProblem(body.geometry, opts.maxVertices)
    if (problem) throw new GEOFENCE_ERRORS[problem.code](problem.detail)
  }

  fastify.get<{ Querystring: GeofencesQuery & { limit: number } }>('/geofences', {
    ...read,
    schema: { ...base, summary: 'Geofences sorted by id, optionally those meeting a box or holding a label', querystring: ref('geofences-query'), response: { 200: ref('geofence-list'), ...errors } }
  }, async (request): Promise<GeofenceList> => {
    const q = request.query
    let list: Geofence[]
    if (q.bbox !== undefined) {
      const [minLon, minLat, maxLon, maxLat] = parseBbox(q.bbox)
      store.refresh()
      const index = store.index()
      // minLon > maxLon: a box across the antimeridian, searched as its two halves
      const found = minLon <= maxLon ? index.meeting([minLon, minLat, maxLon, maxLat]) : [...index.meeting([minLon, minLat, 180, maxLat]), ...index.meeting([-180, minLat, maxLon, maxLat])]
      list = [...new Map(found.map(g => [g.id, g])).values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    } else {
      list = store.list()
    }
    if (q.label !== undefined) list = list.filter(g => g.labels.includes(q.label as string))
    if (q.after !== undefined) list = list.filter(g => g.id > (q.after as string))
    const page = list.slice(0, q.limit)
    return { geofences: page, next_after: list.length > q.limit ? (page[page.length - 1] as Geofence).id : null }
  })

  fastify.get<{ Params: { geofenceId: string } }>('/geofences/:geofenceId', {
    ...read,
    schema: { ...base, summary: 'One geofence', params, response: { 200: ref('geofence'), ...errors } }
  }, async (request): Promise<Geofence> => {
    const g = store.get(request.params.geofenceId)
    if (!g) throw notFound(request.params.geofenceId)
    return g
  })

  fastify.post<{ Body: GeofenceInput }>('/geofences', {
    ...admin,
    schema: { ...base, summary: 'Create a geofence (Polygon, MultiPolygon, or a circle as a Point with radius_m)', body: ref('geofence-input'), response: { 201: ref('geofence'), ...errors } }
  }, async (request, reply): Promise<Geofence> => {
    check(request.body)
    const id = request.body.id ?? 'gf_' + randomBytes(8).toString('hex')
    if (store.get(id)) throw new API_ERR_CONFLICT(`geofence ${id} exists; replace it with PUT /api/v1/geofences/${id}`)
    const g = putGeofence(dataDir, id, request.body)
    store.refresh()
    request.log.info({ geofenceId: id, key: request.apiKey?.id }, 'geofence created')
    void reply.code(201).header('location', `/api/v1/geofences/${id}`)
    return g
  })

  fastify.put<{ Params: { geofenceId: string }, Body: GeofenceInput }>('/geofences/:geofenceId', {
    ...admin,
    schema: { ...base, summary: 'Create or replace a geofence', params, body: ref('geofence-input'), response: { 200: ref('geofence'), ...errors } }
  }, async (request): Promise<Geofence> => {
    const { geofenceId } = request.params
    if (request.body.id !== undefined && request.body.id !== geofenceId) throw new API_ERR_BAD_REQUEST(`the body's id ${request.body.id} differs from the path's ${geofenceId}`)
    check(request.body)
    const g = putGeofence(dataDir, geofenceId, request.body)
    store.refresh()
    request.log.info({ geofenceId, key: request.apiKey?.id }, 'geofence replaced')
    return g
  })

  fastify.delete<{ Params: { geofenceId: string } }>('/geofences/:geofenceId', {
    ...admin,
    schema: { ...base, summary: 'Delete a geofence; vehicles inside it get no exit alert', params, response: { 204: { description: 'Deleted.', type: 'null' }, ...errors } }
  }, async (request, reply) => {
    const { geofenceId } = request.params
    if (!store.get(geofenceId)) throw notFound(geofenceId)
    deleteGeofence(dataDir, geofenceId)
    store.refresh()
    request.log.info({ geofenceId, key: request.apiKey?.id }, 'geofence deleted')
    return await reply.code(204).send()
  })
}

export default geofences
