// Errors as application/problem+json (RFC 9457), with a detail that says what to fix.
// Coded errors of the api (STYLE.md habit 4). Callers match on `code`.
//
// | code                       | status | when                                                        |
// | -------------------------- | ------ | ----------------------------------------------------------- |
// | API_ERR_VALIDATION         | 400    | a parameter or body does not match its schema               |
// | API_ERR_BAD_REQUEST        | 400    | malformed request (e.g. invalid JSON body)                  |
// | API_ERR_BAD_RANGE          | 400    | `to` is not after `from`                                    |
// | API_ERR_RANGE_TOO_LARGE    | 400    | from/to spans more than the endpoint allows                 |
// | API_ERR_BAD_CURSOR         | 400    | a cursor this API did not issue                             |
// | API_ERR_BAD_BBOX           | 400    | bbox is not minLon,minLat,maxLon,maxLat within WGS84 bounds |
// | API_ERR_BAD_WEBHOOK_URL    | 400    | a webhook URL that is not http(s), or holds credentials     |
// | API_ERR_UNAUTHORIZED       | 401    | no API key, or an unknown one                               |
// | API_ERR_FORBIDDEN          | 403    | a valid key whose role does not allow this route            |
// | API_ERR_NOT_FOUND          | 404    | no such route, vehicle, device token or API key             |
// | API_ERR_CONFLICT           | 409    | the vehicle already holds a device token (rotate it instead)|
// | API_ERR_PAYLOAD_TOO_LARGE  | 413    | request body over the limit                                 |
// | API_ERR_UNSUPPORTED_MEDIA  | 415    | body is not application/json                               |
// | API_ERR_RATE_LIMITED       | 429    | the key's request budget is spent; see Retry-After          |
// | API_ERR_INTERNAL           | 500    | a bug or QuestDB failure; the log has the request id        |
// | API_ERR_UNAVAILABLE        | 503    | QuestDB unreachable, or durable storage did not confirm in time; see Retry-After |
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'

export class ApiError extends Error {
  constructor (public readonly code: string, public readonly statusCode: number, message: string) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Seconds a client is told to wait (Retry-After) after a 503: about one restart of a managed QuestDB. */
export const RETRY_AFTER_S = 5

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

const FALLBACK_CODES: Record<number, string> = {
  400: 'API_ERR_BAD_REQUEST',
  401: 'API_ERR_UNAUTHORIZED',
  403: 'API_ERR_FORBIDDEN',
  404: 'API_ERR_NOT_FOUND',
  409: 'API_ERR_CONFLICT',
  413: 'API_ERR_PAYLOAD_TOO_LARGE',
  415: 'API_ERR_UNSUPPORTED_MEDIA',
  429: 'API_ERR_RATE_LIMITED',
  503: 'API_ERR_UNAVAILABLE'
}

function codeOf (err: FastifyError, status: number): string {
  if (err.validation) return 'API_ERR_VALIDATION'
  if (typeof err.code === 'string' && err.code.startsWith('API_ERR_')) return err.code
  if (status >= 500) return 'API_ERR_INTERNAL'
  return FALLBACK_CODES[status] ?? 'API_ERR_BAD_REQUEST'
}

export default fp(async function errors (fastify) {
  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    const unavailable = status === 503 && err instanceof ApiError
    if (unavailable) request.log.warn({ err }, 'request failed: unavailable')
    else if (status >= 500) request.log.error({ err }, 'request failed')
    // [RFC 9110 10.2.3] a 503 may say when to retry
    if (status === 503 && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(RETRY_AFTER_S))
    const detail = unavailable ? err.message : status >= 500 ? 'internal error; see the server log for the request id' : err.validation ? `${err.validationContext ?? 'request'}${err.message.replace(/^(querystring|params|body|headers)/, '')}` : err.message
    void reply.code(status).type('application/problem+json').send({
      type: 'about:blank',
      title: TITLES[status] ?? 'Error',
      status,
      detail,
      code: codeOf(err, status),
      instance: request.url.split('?')[0]
    })
  })
  fastify.setNotFoundHandler((request, reply) => {
    void reply.code(404).type('application/problem+json').send({
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      code: 'API_ERR_NOT_FOUND',
      detail: `no route ${request.method} ${request.url.split('?')[0]}`,
      instance: request.url.split('?')[0]
    })
  })
}, { name: 'errors' })
