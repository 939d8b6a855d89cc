// Errors as application/problem+json (RFC 9457), with a detail that says what to fix.
// The codes and their table are in ../errors.ts.
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import type { Problem } from '../../../schemas/types.js'
import { CODE_BY_STATUS, isApiError } from '../errors.js'

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

/** The one builder of an application/problem+json body (problem.schema.json), for routes and the live feed's upgrade alike. */
export function problem (status: number, code: string, detail: string, instance?: string): Problem {
  return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, code, ...(instance !== undefined ? { instance } : {}) }
}

function codeOf (err: FastifyError, status: number): string {
  if (err.validation) return 'API_ERR_VALIDATION'
  if (isApiError(err)) return err.code
  if (status >= 500) return 'API_ERR_INTERNAL'
  return CODE_BY_STATUS[status] ?? 'API_ERR_BAD_REQUEST'
}

export default fp(async function errors (fastify) {
  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    const unavailable = status === 503 && isApiError(err)
    if (unavailable) request.log.warn({ err }, 'request failed: unavailable')
    else if (status >= 500) request.log.error({ err }, 'request failed')
    // [RFC 9110 10.2.3] a 503 may say when to retry
    if (status === 503 && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(RETRY_AFTER_S))
    const detail = unavailable ? err.message : status >= 500 ? 'internal error; see the server log for the request id' : err.validation ? `${err.validationContext ?? 'request'}${err.message.replace(/^(querystring|params|body|headers)/, '')}` : err.message
    void reply.code(status).type('application/problem+json').send(problem(status, codeOf(err, status), detail, request.url.split('?')[0]))
  })
  fastify.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] as string
    void reply.code(404).type('application/problem+json').send(problem(404, 'API_ERR_NOT_FOUND', `no route ${request.method} ${path}`, path))
  })
}, { name: 'errors' })
