// API keys on /api/v1: a route names the role it needs in `config.role`; the
// request must carry `Authorization: Bearer <key>` of a key with that role
// (admin may do everything). No key or an unknown key: 401; a known key
// without the role: 403. Decorates `request.apiKey` (the rate limiter keys on
// its id) and `fastify.verifyApiKey` (for the live feed).
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { allows, type ApiKey, type ApiKeyStore, type Role } from '../api-keys.js'
import { API_ERR_FORBIDDEN, API_ERR_UNAUTHORIZED } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKey | null
  }
  interface FastifyInstance {
    verifyApiKey: (token: string) => ApiKey | null
  }
  interface FastifyContextConfig {
    /** The role a request needs for this route; routes without one are public. */
    role?: Role
  }
}

export interface AuthOptions {
  /** off: keys are not checked (local development). */
  mode: 'required' | 'off'
  store: ApiKeyStore
}

/** The subprotocol prefix of a key offered by a browser, which cannot set headers on a WebSocket. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.'

/**
 * The API key a request carries: `Authorization: Bearer <key>`; on a WebSocket
 * upgrade (`upgrade: true`) also a `bearer.<key>` subprotocol or `?token=<key>`,
 * for browsers. The one parser of keys for HTTP routes and the live feed.
 */
export function bearerToken (request: FastifyRequest, opts: { upgrade?: boolean } = {}): string | null {
  const h = request.headers.authorization
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null
  if (m) return m[1] as string
  if (opts.upgrade !== true) return null
  const protocols = request.headers['sec-websocket-protocol']
  if (typeof protocols === 'string') {
    for (const p of protocols.split(',')) {
      const s = p.trim()
      if (s.startsWith(BEARER_PROTOCOL_PREFIX) && s.length > BEARER_PROTOCOL_PREFIX.length) return s.slice(BEARER_PROTOCOL_PREFIX.length)
    }
  }
  const q = (request.query as Record<string, unknown> | undefined)?.token
  return typeof q === 'string' && q.length > 0 ? q : null
}

export default fp<AuthOptions>(async function auth (fastify, opts) {
  fastify.decorateRequest('apiKey', null)
  fastify.decorate('verifyApiKey', (token: string) => opts.store.verify(token))
  if (opts.mode === 'off') {
    fastify.log.warn('API_AUTH=off: the api accepts requests without API keys')
    return
  }
  fastify.addHook('onRequest', async (request, reply) => {
    const need = request.routeOptions.config.role
    if (!need) return
    const token = bearerToken(request)
    const key = token ? opts.store.verify(token) : null
    if (!key) {
      void reply.header('www-authenticate', 'Bearer realm="fleetgate"')
      throw new API_ERR_UNAUTHORIZED(token ? 'unknown API key' : 'this route needs an API key: send Authorization: Bearer <key> (make one with `fleetgate apikey --role read`)')
    }
    request.apiKey = key
    if (!allows(key.role, need)) throw new API_ERR_FORBIDDEN(`this route needs the ${need} role; the key has ${key.role}`)
  })
}, { name: 'auth', dependencies: ['errors'] })
