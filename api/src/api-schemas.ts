// The API's request and response schemas: the JSON files in schemas/api/ (and
// the reading, event and rejection schemas they refer to), loaded once. Routes
// refer to them by $id; the OpenAPI document is generated from the same objects.
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../schemas/', import.meta.url))
const BASE = 'https://fleetgate.dev/schemas/api/'

export type JsonSchema = Record<string, unknown> & { $id: string, title?: string }

function load (dir: string, names: string[]): JsonSchema[] {
  return names.map(n => JSON.parse(readFileSync(dir + n, 'utf8')) as JsonSchema)
}

/** Every schema the API uses, in an order where a schema comes after those it refers to. */
export const apiSchemas: JsonSchema[] = [
  ...load(root, ['telemetry.schema.json', 'event.schema.json', 'rejection-reason.schema.json']),
  ...load(root + 'api/', readdirSync(root + 'api/').filter(n => n.endsWith('.schema.json')).sort())
]

/** `{ $ref }` to schemas/api/<name>.schema.json. */
export function ref (name: string): { $ref: string } {
  return { $ref: `${BASE}${name}.schema.json` }
}

/** A schema of schemas/api/ by name (for tests and for values the code needs, e.g. limits). */
export function apiSchema (name: string): JsonSchema {
  const s = apiSchemas.find(x => x.$id === `${BASE}${name}.schema.json`)
  if (!s) throw new Error(`no schema ${name}`)
  return s
}
