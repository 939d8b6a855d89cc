// Configuration from environment variables, validated once against
// config.schema.json; a bad value fails the start naming the variable.
import createError from '@fastify/error'
import { Ajv } from 'ajv'
import configSchema from './config.schema.json' with { type: 'json' }
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Config } from './types.js'

export type { Config }

/** FG_ERR_CONFIG: shared by every command, so declared beside the config it checks. */
export const ConfigError = createError<[string]>('FG_ERR_CONFIG', 'invalid configuration: %s', 500)

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: false })
const validate = ajv.compile<Config>(configSchema)
const known = Object.keys(configSchema.properties)

export function loadConfig (env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const raw: Record<string, unknown> = {}
  for (const key of known) {
    const v = env[key]
    if (v !== undefined && v !== '') raw[key] = v
  }
  Object.assign(raw, overrides)
  if (!validate(raw)) {
    const msgs = (validate.errors ?? []).map(e => {
      const name = e.instancePath.replace(/^\//, '') || (e.params as { missingProperty?: string }).missingProperty || '(config)'
      return `${name} ${e.message ?? 'is invalid'}${name in raw ? ` (got ${JSON.stringify(raw[name])})` : ''}`
    })
    throw new ConfigError(`${msgs.join('; ')}`)
  }
  if ((raw.QUESTDB_HTTP_URL === undefined) !== (raw.QUESTDB_PG_URL === undefined)) {
    throw new ConfigError('QUESTDB_HTTP_URL and QUESTDB_PG_URL must be set together')
  }
  if ((raw.TLS_CERT_FILE === undefined) !== (raw.TLS_KEY_FILE === undefined)) {
    throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together')
  }
  const config = raw as Config
  // node refuses a headers timeout longer than the request timeout
  if (config.HTTP_HEADERS_TIMEOUT_MS > config.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigError(`HTTP_HEADERS_TIMEOUT_MS (${config.HTTP_HEADERS_TIMEOUT_MS}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.HTTP_REQUEST_TIMEOUT_MS})`)
  }
  return config
}

/** Where a running gateway writes the addresses it listens on, for the simulator on the same machine. */
export function gatewayAddressFile (dataDir: string): string {
  return join(dataDir, 'gateway', 'addresses.json')
}

/** The API keys' file (api/src/api-keys.ts), which the gateway forwards to other nodes over Redis. */
export function apiKeysFile (dataDir: string): string {
  return join(dataDir, 'api-keys.jsonl')
}

/** This node's id: NODE_ID, else hostname-pid (in every log line and, across machines, on the Redis bus). */
export function nodeId (config: Pick<Config, 'NODE_ID'>): string {
  return config.NODE_ID ?? `${hostname()}-${process.pid}`
}
