// What the api tests share: a stack with API keys on, keys of each role, HTTP
// helpers, and a check of response bodies against their schemas/api schema.
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { Test } from 'tap'
import mqtt from 'mqtt'
import type { Config } from '../../schemas/config.js'
import { issueTokens, startQuestDbForTest, startStack, type Stack } from '../../test/helper.js'
import { vehicleTopic, type TopicKind } from '../../schemas/topics.js'
import { createApiKey, type Role } from '../src/api-keys.js'
import { apiSchemas, apiSchema } from '../src/api-schemas.js'

export interface ApiStack extends Stack { keys: Record<Role, string> }

/** A stack with API keys required; `db` shares one QuestDB between stacks of a file. */
export async function startApiStack (t: Test, overrides: Partial<Config> = {}, db?: { httpUrl: string, pgUrl: string }): Promise<ApiStack> {
  db ??= await startQuestDbForTest(t)
  const stack = await startStack(t, db, { API_AUTH: 'required', API_RATE_LIMIT: 0, ...overrides })
  const keys = {
    read: createApiKey(stack.config.DATA_DIR, 'read').key,
    ingest: createApiKey(stack.config.DATA_DIR, 'ingest').key,
    admin: createApiKey(stack.config.DATA_DIR, 'admin').key
  }
  return { ...stack, keys }
}

export interface Answer<B = any> { status: number, headers: Headers, body: B, text: string }

export async function call<B = any> (s: ApiStack, path: string, init: { method?: string, key?: string | null, body?: unknown, headers?: Record<string, string> } = {}): Promise<Answer<B>> {
  const headers: Record<string, string> = { ...init.headers }
  const key = init.key === undefined ? s.keys.admin : init.key
  if (key) headers.authorization = `Bearer ${key}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(s.httpUrl + path, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) })
  const text = await res.text()
  let body: unknown = text
  if (/json/.test(res.headers.get('content-type') ?? '')) body = JSON.parse(text)
  return { status: res.status, headers: res.headers, body: body as B, text }
}

/** POSTs readings through the real ingestion path (in batches of 1000) and returns the accepted count. */
export async function ingest (s: ApiStack, id: string, readings: unknown[]): Promise<number> {
  let accepted = 0
  for (let i = 0; i < readings.length; i += 1000) {
    const r = await call<{ accepted: number }>(s, `/api/v1/vehicles/${id}/readings`, { method: 'POST', key: s.keys.ingest, body: readings.slice(i, i + 1000) })
    if (r.status !== 200) throw new Error(`ingest ${r.status}: ${r.text}`)
    accepted += r.body.accepted
  }
  return accepted
}

// ajv-formats is CommonJS with a default export
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const ajv = new Ajv({ allErrors: true, strict: false })
addFormats(ajv)
for (const s of apiSchemas) ajv.addSchema(s)

/** Checks a body against schemas/api/<name>.schema.json; reports the errors in the assertion. */
export function conforms (t: Test, name: string, body: unknown): void {
  const validate = ajv.getSchema(apiSchema(name).$id)
  if (!validate) throw new Error(`no validator for ${name}`)
  const ok = validate(body) as boolean
  t.ok(ok, `${name} response matches its schema`, ok ? {} : { errors: validate.errors })
}

/** RFC 3339 UTC with microseconds. */
export const RFC3339_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/**
 * Publishes over real MQTT as the vehicle (QoS 1: resolves once durable).
 * The session ends after, and the gateway records the vehicle offline, unless
 * `stay`: then it stays connected until the test ends.
 */
export async function publish (t: Test, s: ApiStack, id: string, kind: TopicKind, payloads: string[], opts: { stay?: boolean } = {}): Promise<void> {
  const token = issueTokens(s.config.DATA_DIR, [id]).get(id)
  const c = await mqtt.connectAsync(s.mqttUrl, { clientId: id, username: id, password: token, protocolVersion: 4 })
  t.teardown(() => c.endAsync(true))
  for (const p of payloads) await c.publishAsync(vehicleTopic(id, kind), p, { qos: 1 })
  if (!opts.stay) await c.endAsync()
}
