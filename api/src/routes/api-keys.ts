// API keys over the admin API: list, create, rotate and revoke, one at a time
// or many at once (JSON or CSV). They append to DATA_DIR/api-keys.jsonl, which
// every api process with that DATA_DIR re-reads: a revoked key is refused
// within a second.
import type { FastifyPluginAsync } from 'fastify'
import type { ApiKeyCreate, ApiKeyList, ApiKeySecret, ApiKeysBulkRequest, ApiKeysBulkResult, ApiKeysQuery } from '../../../schemas/types.js'
import { createApiKey, createApiKeys, listApiKeys, revokeApiKey, rotateApiKey, type Role } from '../api-keys.js'
import { ref } from '../api-schemas.js'
import { API_ERR_NOT_FOUND } from '../errors.js'
import { adminErrors, BULK_BODY_LIMIT, guardAdmin, withoutHeader, type AdminOptions } from './admin-access.js'

export interface ApiKeysOptions extends AdminOptions {
  /** API_KEYS: listed (source env) and revocable like the others. */
  apiKeysEnv?: string
}

const base = { config: { role: 'admin' as const }, tags: ['api-keys'], security: [{ apiKey: [] }] }
const keyParams = { type: 'object', required: ['keyId'], properties: { keyId: { type: 'string', pattern: '^[0-9a-f]{12}$', description: 'The key\'s id (as listed).' } } } as const

function notFound (id: string): InstanceType<typeof API_ERR_NOT_FOUND> {
  return new API_ERR_NOT_FOUND(`no active API key ${id}`)
}

const apiKeys: FastifyPluginAsync<ApiKeysOptions> = async (fastify, opts) => {
  const dir = opts.dataDir
  const env = opts.apiKeysEnv
  // CSV: role, name; an optional header starting with `role`
  guardAdmin(fastify, opts, rows => withoutHeader(rows, 'role').map(r => ({ role: r[0] ?? '', ...(r[1] ? { name: r[1] } : {}) })))

  fastify.get<{ Querystring: ApiKeysQuery & { status: 'active' | 'revoked' | 'all' } }>('/api-keys', {
    config: base.config,
    schema: { ...base, summary: 'API keys (ids, roles, names; never the keys)', querystring: ref('api-keys-query'), response: { 200: ref('api-key-list'), ...adminErrors } }
  }, async (request): Promise<ApiKeyList> => {
    const { status } = request.query
    const keys = listApiKeys(dir, env).filter(k => status === 'all' || (status === 'active') === (k.revoked_at === null))
    return { api_keys: keys }
  })

  fastify.post<{ Body: ApiKeyCreate }>('/api-keys', {
    config: base.config,
    schema: { ...base, summary: 'Make an API key; it is shown once', body: ref('api-key-create'), response: { 201: ref('api-key-secret'), ...adminErrors } }
  }, async (request, reply): Promise<ApiKeySecret> => {
    const made = createApiKey(dir, request.body.role as Role, request.body.name ?? '')
    request.log.info({ id: made.id, role: made.role, key: request.apiKey?.id }, 'api key created')
    void reply.code(201)
    return made
  })

  fastify.post<{ Params: { keyId: string } }>('/api-keys/:keyId/rotate', {
    config: base.config,
    schema: { ...base, summary: 'Replace a key by a new one with the same role and name; the old one is revoked', params: keyParams, response: { 200: ref('api-key-secret'), ...adminErrors } }
  }, async (request): Promise<ApiKeySecret> => {
    const made = rotateApiKey(dir, request.params.keyId, env)
    if (!made) throw notFound(request.params.keyId)
    request.log.info({ id: made.id, replaces: made.replaces, key: request.apiKey?.id }, 'api key rotated')
    return made
  })

  fastify.delete<{ Params: { keyId: string } }>('/api-keys/:keyId', {
    config: base.config,
    schema: { ...base, summary: 'Revoke a key; refused within a second by every api process on this DATA_DIR', params: keyParams, response: { 204: { description: 'Revoked.', type: 'null' }, ...adminErrors } }
  }, async (request, reply) => {
    if (!revokeApiKey(dir, request.params.keyId, env)) throw notFound(request.params.keyId)
    request.log.info({ id: request.params.keyId, key: request.apiKey?.id }, 'api key revoked')
    return await reply.code(204).send()
  })

  fastify.post<{ Body: ApiKeysBulkRequest }>('/api-keys/bulk', {
    config: base.config,
    bodyLimit: BULK_BODY_LIMIT,
    schema: { ...base, summary: 'Make many API keys at once (JSON or text/csv role,name); each is shown once', body: ref('api-keys-bulk-request'), consumes: ['application/json', 'text/csv'], response: { 200: ref('api-keys-bulk-result'), ...adminErrors } }
  }, async (request): Promise<ApiKeysBulkResult> => {
    const made = createApiKeys(dir, request.body.map(k => ({ role: k.role as Role, name: k.name ?? '' })))
    request.log.info({ created: made.length, key: request.apiKey?.id }, 'api keys created in bulk')
    return { api_keys: made }
  })
}

export default apiKeys
