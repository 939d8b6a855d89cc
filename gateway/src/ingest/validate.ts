// The ajv validators, compiled once from the JSON Schemas in schemas/.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import formatsModule from 'ajv-formats/dist/formats.js'
import telemetrySchema from '../../../schemas/telemetry.schema.json' with { type: 'json' }
import eventSchema from '../../../schemas/event.schema.json' with { type: 'json' }
import type { Reading, VehicleEvent } from '../../../schemas/types.js'

// ajv-formats is CommonJS
const { fullFormats } = formatsModule as unknown as { fullFormats: { 'date-time': { validate: (s: string) => boolean } } }

// what may follow a valid `YYYY-MM-DDTHH:MM:SS` for the whole text to be a
// valid RFC 3339 date-time (ajv-formats' rules): a fraction and a zone
const AFTER_SECOND = /(?:\.\d+)?(?:z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)$/iy

/**
 * ajv-formats' `date-time`, with the date and second of the last valid text
 * remembered: a fleet's readings share them by the thousand, and the full
 * check splits the text and runs two regular expressions with captures,
 * allocating on every reading (a sampling heap profile under `npm run bench
 * -- profile` load shows it). A text with the same
 * first 19 characters needs only its fraction and zone checked; anything
 * else, and a leap second, goes to the full check, which alone says no.
 */
export function createDateTimeFormat (full: (s: string) => boolean = fullFormats['date-time'].validate): (s: string) => boolean {
  let prefix = ''
  return function dateTime (s: string): boolean {
    if (prefix !== '' && s.startsWith(prefix)) {
      AFTER_SECOND.lastIndex = 19
      if (AFTER_SECOND.test(s)) return true
    }
    if (!full(s)) return false
    // a leap second is valid only at 23:59:60 UTC, which depends on the zone
    prefix = s.charCodeAt(17) === 54 && s.charCodeAt(18) === 48 ? '' : s.slice(0, 19)
    return true
  }
}

export interface Validators {
  reading: ValidateFunction<Reading>
  event: ValidateFunction<VehicleEvent>
}

export function createValidators (): Validators {
  const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true })
  ajv.addFormat('date-time', createDateTimeFormat())
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
