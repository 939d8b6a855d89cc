// A reading's stored fields, derived from telemetry.schema.json: the ILP
// encoders and the history SQL take their columns from here, so a field added
// to the schema reaches every one of them.
import telemetrySchema from './telemetry.schema.json' with { type: 'json' }
import type { Reading } from './types.js'

type Field = Exclude<keyof Reading, 'ts'>
type NumberField = { [K in Field]-?: NonNullable<Reading[K]> extends number ? K : never }[Field]

const properties: Record<string, Record<string, unknown>> = telemetrySchema.properties

/** Every field of a reading but `ts` (the designated timestamp), in schema order. */
export const READING_FIELDS: readonly Field[] = Object.keys(properties).filter((k): k is Field => k !== 'ts')

/** The DOUBLE columns: the schema's `"type": "number"` fields (integers are LONG, `ignition` BOOLEAN). */
export const FLOAT_FIELDS: readonly NumberField[] = READING_FIELDS.filter((k): k is NumberField => properties[k]?.type === 'number')
