// Errors as application/problem+json (RFC 9457), with a detail that says what to fix.
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'

export class ApiError extends Error {
  constructor (public readonly code: string, public readonly statusCode: number, message: string) {
    super(message)
    this.name = 'ApiError'
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

export default fp(async function errors (fastify) {
  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    if (status >= 500) request.log.error({ err }, 'request failed')
    const detail = status >= 500 ? 'internal error; see the server log for the request id' : err.validation ? `${err.validationContext ?? 'request'}${err.message.replace(/^(querystring|params|body|headers)/, '')}` : err.message
    void reply.code(status).type('application/problem+json').send({
      type: 'about:blank',
      title: TITLES[status] ?? 'Error',
      status,
      detail,
      code: err.code ?? (status >= 500 ? 'API_ERR_INTERNAL' : 'API_ERR_BAD_REQUEST'),
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
