// GET /vehicles: every vehicle's latest position, last-seen time and online
// state. GET /vehicles/:id: the same for one vehicle.
import type { FastifyPluginAsync } from 'fastify'
import type { Vehicle, VehicleList } from '../../../schemas/types.js'
import { ref } from '../api-schemas.js'
import { API_ERR_NOT_FOUND } from '../errors.js'
import { allVehicles, oneVehicle } from '../queries/vehicle-state.js'
import { errorResponses, idParams } from './route-schemas.js'

export interface VehiclesOptions { onlineWindowS: number }

const vehicles: FastifyPluginAsync<VehiclesOptions> = async (fastify, opts) => {
  fastify.get('/vehicles', {
    config: { role: 'read' },
    schema: {
      summary: 'Every vehicle: latest position, last-seen time, online state',
      tags: ['vehicles'],
      security: [{ apiKey: [] }],
      response: { 200: ref('vehicle-list'), ...errorResponses }
    }
  }, async (): Promise<VehicleList> => ({ vehicles: await allVehicles(fastify.questdb, opts.onlineWindowS) }))

  fastify.get<{ Params: { id: string } }>('/vehicles/:id', {
    config: { role: 'read' },
    schema: {
      summary: 'One vehicle: latest position, last-seen time, online state',
      tags: ['vehicles'],
      security: [{ apiKey: [] }],
      params: idParams,
      response: { 200: ref('vehicle'), ...errorResponses, 404: errorResponses[400] }
    }
  }, async (request): Promise<Vehicle> => {
    const v = await oneVehicle(fastify.questdb, request.params.id, opts.onlineWindowS)
    if (!v) throw new API_ERR_NOT_FOUND(`no reading or status of vehicle ${request.params.id} was ever stored`)
    return v
  })
}

export default vehicles
