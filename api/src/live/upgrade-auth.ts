// Who may open the live feed: the upgrade request's API key (header,
// `bearer.<key>` subprotocol or ?token=, parsed as for HTTP routes) checked
// before the WebSocket exists, so a refusal is a plain problem+json answer.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { bearerToken } from '../plugins/auth.js'
import { problem } from '../plugins/errors.js'
import type { LiveMetrics } from './live-metrics.js'

/** true lets the client in, false refuses it with 401 (unknown key), 'forbidden' with 403 (a known key without the role). */
export type TokenCheck = boolean | 'forbidden'

export type UpgradeAuthHook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>

export function createUpgradeAuth (verify: (token: string) => TokenCheck | Promise<TokenCheck>, metrics: LiveMetrics): UpgradeAuthHook {
  return async (req, reply) => {
    const token = bearerToken(req, { upgrade: true })
    const check = token === null ? false : await verify(token)
    if (check === true) return
    metrics.authFailures.inc()
    const path = req.url.split('?')[0] as string
    if (check === 'forbidden') {
      await reply.code(403).type('application/problem+json').send(problem(403, 'API_ERR_FORBIDDEN', 'the live feed needs the read role; this key does not have it', path))
      return
    }
    const detail = token === null ? 'an API key is required: Authorization: Bearer <key>, subprotocol list fleetgate.v1, bearer.<key>, or ?token=<key>' : 'API key not accepted'
    await reply.code(401).header('www-authenticate', 'Bearer').type('application/problem+json').send(problem(401, 'API_ERR_UNAUTHORIZED', detail, path))
  }
}
