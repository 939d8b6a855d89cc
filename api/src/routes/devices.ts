// The device registry over the admin API: list, create, rotate and revoke
// vehicles' device tokens, one at a time or a fleet at once (JSON or CSV).
// They append to DATA_DIR/devices.jsonl, which the gateway follows (same
// DATA_DIR): a new token works at the vehicle's next connect, a revoked
// vehicle's session is closed.
import type { FastifyPluginAsync } from 'fastify'
import { hasActiveToken, issueToken, issueTokenBatch, listDevices, revokeToken, type DeviceRecord } from '../../../gateway/src/index.js'
import { isVehicleId } from '../../../schemas/topics.js'
import type { Device, DeviceCreate, DeviceList, DevicesBulkQuery, DevicesBulkRequest, DevicesBulkResult, DevicesQuery, DeviceToken } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { API_ERR_CONFLICT, API_ERR_NOT_FOUND, API_ERR_VALIDATION } from '../errors.js'
import { idParams } from './route-schemas.js'
import { adminErrors, BULK_BODY_LIMIT, guardAdmin, withoutHeader, type AdminOptions } from './admin-access.js'

const base = { config: { role: 'admin' as const }, tags: ['devices'], security: [{ apiKey: [] }] }

function notFound (id: string): InstanceType<typeof API_ERR_NOT_FOUND> {
  return new API_ERR_NOT_FOUND(`vehicle ${id} holds no token (never issued, or revoked)`)
}

/** The ids of a bulk request, checked: every problem at once, by position. */
function bulkIds (body: DevicesBulkRequest): string[] {
  const ids = body.map(x => typeof x === 'string' ? x : x.vehicle_id)
  const seen = new Set<string>()
  const problems: string[] = []
  ids.forEach((id, i) => {
    if (!isVehicleId(id)) problems.push(`[${i}] ${JSON.stringify(String(id).slice(0, 70))} is not a vehicle id (^[A-Za-z0-9_-]{1,64}$)`)
    else if (seen.has(id)) problems.push(`[${i}] ${id} appears twice`)
    seen.add(id)
  })
  if (problems.length) throw new API_ERR_VALIDATION(`nothing was issued; ${problems.length} problem(s): ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? '; ...' : ''}`)
  return ids
}

const devices: FastifyPluginAsync<AdminOptions> = async (fastify, opts) => {
  const dir = opts.dataDir
  // CSV: the id in the first column, an optional header `vehicle_id`
  guardAdmin(fastify, opts, rows => withoutHeader(rows, 'vehicle_id').map(r => r[0] ?? ''))

  fastify.get<{ Querystring: DevicesQuery & { limit: number, status: 'active' | 'revoked' | 'all' } }>('/devices', {
    config: base.config,
    schema: { ...base, summary: 'Vehicles of the device registry, sorted by id, paginated', querystring: ref('devices-query'), response: { 200: ref('device-list'), ...adminErrors } }
  }, async (request): Promise<DeviceList> => {
    const { status, after, limit } = request.query
    const all = [...listDevices(dir).values()]
      .filter(d => (status === 'all' || d.status === status) && (after === undefined || d.vehicle_id > after))
      .sort((a, b) => a.vehicle_id < b.vehicle_id ? -1 : 1)
    const page = all.slice(0, limit)
    return { devices: page, next_after: all.length > limit ? (page[page.length - 1] as DeviceRecord).vehicle_id : null }
  })

  fastify.get<{ Params: { id: string } }>('/devices/:id', {
    config: base.config,
    schema: { ...base, summary: 'One vehicle of the device registry', params: idParams, response: { 200: ref('device'), ...adminErrors } }
  }, async (request): Promise<Device> => {
    const d = listDevices(dir).get(request.params.id)
    if (!d) throw new API_ERR_NOT_FOUND(`vehicle ${request.params.id} is not in the device registry`)
    return d
  })

  fastify.post<{ Body: DeviceCreate }>('/devices', {
    config: base.config,
    schema: { ...base, summary: 'Issue a token to a vehicle without one; the token is shown once', body: ref('device-create'), response: { 201: ref('device-token'), ...adminErrors } }
  }, async (request, reply): Promise<DeviceToken> => {
    const id = request.body.vehicle_id
    if (hasActiveToken(dir, id)) throw new API_ERR_CONFLICT(`vehicle ${id} already holds a token; POST /api/v1/devices/${id}/rotate replaces it`)
    const token = issueToken(dir, id)
    request.log.info({ vehicleId: id, key: request.apiKey?.id }, 'device token issued')
    void reply.code(201)
    return { vehicle_id: id, token }
  })

  fastify.post<{ Params: { id: string } }>('/devices/:id/rotate', {
    config: base.config,
    schema: { ...base, summary: 'Replace a vehicle\'s token; the old one stops working for new connections', params: idParams, response: { 200: ref('device-token'), ...adminErrors } }
  }, async (request): Promise<DeviceToken> => {
    const id = request.params.id
    if (!hasActiveToken(dir, id)) throw notFound(id)
    const token = issueToken(dir, id)
    request.log.info({ vehicleId: id, key: request.apiKey?.id }, 'device token rotated')
    return { vehicle_id: id, token }
  })

  fastify.delete<{ Params: { id: string } }>('/devices/:id', {
    config: base.config,
    schema: { ...base, summary: 'Revoke a vehicle\'s token; its session is closed', params: idParams, response: { 204: { description: 'Revoked.', type: 'null' }, ...adminErrors } }
  }, async (request, reply) => {
    const id = request.params.id
    if (!hasActiveToken(dir, id)) throw notFound(id)
    revokeToken(dir, id)
    request.log.info({ vehicleId: id, key: request.apiKey?.id }, 'device token revoked')
    return await reply.code(204).send()
  })

  fastify.post<{ Body: DevicesBulkRequest, Querystring: DevicesBulkQuery & { existing: 'skip' | 'rotate' } }>('/devices/bulk', {
    config: base.config,
    bodyLimit: BULK_BODY_LIMIT,
    schema: {
      ...base,
      summary: 'Issue tokens to many vehicles at once (JSON or text/csv); each token is shown once',
      description: 'Nothing is issued if any id is invalid or repeated (400 lists them). Vehicles that already hold a token are skipped, or given a new one with `existing=rotate`.',
      querystring: ref('devices-bulk-query'),
      body: ref('devices-bulk-request'),
      consumes: ['application/json', 'text/csv'],
      response: { 200: ref('devices-bulk-result'), ...adminErrors }
    }
  }, async (request): Promise<DevicesBulkResult> => {
    const ids = bulkIds(request.body)
    const known = listDevices(dir)
    const rotate = request.query.existing === 'rotate'
    const skipped: string[] = []
    const issue: string[] = []
    let rotated = 0
    for (const id of ids) {
      const active = known.get(id)?.status === 'active'
      if (active && !rotate) skipped.push(id)
      else { issue.push(id); if (active) rotated++ }
    }
    const tokens = issueTokenBatch(dir, issue)
    request.log.info({ issued: issue.length, rotated, skipped: skipped.length, key: request.apiKey?.id }, 'device tokens issued in bulk')
    return { created: issue.length - rotated, rotated, skipped, devices: issue.map((id, i) => ({ vehicle_id: id, token: tokens[i] as string })) }
  })
}

export default devices
