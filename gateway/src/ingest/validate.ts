// The ajv validators, compiled once from the JSON Schemas in schemas/.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import telemetrySchema from '../../../schemas/telemetry.schema.json' with { type: 'json' }
import eventSchema from '../../../schemas/event.schema.json' with { type: 'json' }
import type { Reading, VehicleEvent } from '../../../schemas/types.js'

// ajv-formats is CommonJS with a default export
const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats?: string[]) => Ajv

export interface Validators {
  reading: ValidateFunction<Reading>
  event: ValidateFunction<VehicleEvent>
}

export function createValidators (): Validators {
  const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true })
  addFormats(ajv, ['date-time'])
  ajv.addSchema(telemetrySchema)
  ajv.addSchema(eventSchema)
  return {
    reading: ajv.getSchema<Reading>(telemetrySchema.$id) as ValidateFunction<Reading>,
    event: ajv.getSchema<VehicleEvent>(eventSchema.$id) as ValidateFunction<VehicleEvent>
  }
}

/** `/lat must be <= 90`: the path and message a firmware team needs. */
export function describeErrors (errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid'
  // oneOf failures report each branch; the most specific one is the first
  const e = errors[0] as ErrorObject
  let msg = e.message ?? 'is invalid'
  if (e.keyword === 'additionalProperties') {
    msg = `must NOT have additional property '${String((e.params as { additionalProperty?: string }).additionalProperty)}'`
  }
  return `${e.instancePath || '/'} ${msg}`
}
