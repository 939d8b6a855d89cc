// What the admin routes (devices, API keys) share: refused while API_AUTH=off
// (they hand out credentials), token-bearing answers kept out of caches, and
// CSV bodies for bulk creation.
import type { FastifyInstance } from 'fastify'
import { API_ERR_BAD_REQUEST, API_ERR_FORBIDDEN } from '../errors.js'
import { csvRows } from './csv-rows.js'
import { ref } from '../api-schemas.js'

export interface AdminOptions {
  dataDir: string
  /** API_AUTH: the admin routes are refused while it is off. */
  authMode: 'required' | 'off'
}

/** Largest bulk request body: 10,000 ids of 64 characters as JSON objects fit. */
export const BULK_BODY_LIMIT = 2 * 1024 * 1024

const problem = { description: 'application/problem+json (RFC 9457)', content: { 'application/problem+json': { schema: ref('problem') } } }
export const adminErrors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 413: problem, 415: problem, 429: problem }

/** @param fromCsv turns the rows of a text/csv body into the route's JSON body */
export function guardAdmin (fastify: FastifyInstance, opts: AdminOptions, fromCsv: (rows: string[][]) => unknown): void {
  fastify.addHook('onRequest', async () => {
    if (opts.authMode === 'off') throw new API_ERR_FORBIDDEN('the admin routes issue credentials and are refused while API_AUTH=off; turn API keys on and use an admin key')
  })
  // a token or key is in the body: no cache on the way may keep it
  fastify.addHook('onSend', async (_request, reply) => { void reply.header('cache-control', 'no-store') })
  fastify.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: BULK_BODY_LIMIT }, (_request, body, done) => {
    try {
      done(null, fromCsv(csvRows(body as string)))
    } catch (err) {
      done(new API_ERR_BAD_REQUEST((err as Error).message), undefined)
    }
  })
}

/** CSV rows without a header row whose first cell is `header` (any case). */
export function withoutHeader (rows: string[][], header: string): string[][] {
  return rows[0]?.[0]?.toLowerCase() === header ? rows.slice(1) : rows
}
