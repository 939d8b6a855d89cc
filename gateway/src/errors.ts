// Coded errors of the gateway, declared once (STYLE.md habit 4, as fastify's
// lib/errors.js with @fastify/error). Callers match on err.code, never on the
// message; statusCode is the HTTP status the condition maps to.
//
// | code                     | status   | when                                                          |
// | ------------------------ | -------- | ------------------------------------------------------------- |
// | GW_ERR_SHUTTING_DOWN     | 503      | a publish arrived after SIGTERM; not acknowledged             |
// | GW_ERR_SPOOL_CLOSED      | 503      | the spool was closed before a write became durable            |
// | GW_ERR_SPOOL_LOCKED      | 409      | another live process holds the spool directory's LOCK         |
// | GW_ERR_ILP_WRITER_CLOSED | 503      | the direct ILP writer (ACK_MODE=commit, api POST) was closed  |
// | GW_ERR_ILP_ENCODE        | 500      | a value cannot be written as ILP (validation should stop it)  |
// | GW_ERR_ILP_HTTP          | QuestDB's| QuestDB answered /write with a non-2xx status (4xx: refused)  |
// | GW_ERR_ILP_TIMEOUT       | 504      | QuestDB did not answer /write in time                         |
// | GW_ERR_ILP_BUSY          | 500      | a second send while one is in flight (a defect)               |
// | GW_ERR_ILP_GAVE_UP       | 503      | shutdown stopped the retries; the batch stays in the spool    |
// | GW_ERR_BAD_ALERT         | 400      | an alert given to webhook delivery does not match schemas/alert.schema.json; none of its batch is queued |
// | GW_ERR_WEBHOOKS_CLOSED   | 503      | alerts enqueued after webhook delivery was closed; not queued |
import createError from '@fastify/error'

export const GW_ERR_SHUTTING_DOWN = createError('GW_ERR_SHUTTING_DOWN', 'shutting down', 503)
export const GW_ERR_SPOOL_CLOSED = createError<[string]>('GW_ERR_SPOOL_CLOSED', 'spool closed %s', 503)
export const GW_ERR_SPOOL_LOCKED = createError<[string, string]>('GW_ERR_SPOOL_LOCKED', 'spool %s is %s', 409)
export const GW_ERR_ILP_WRITER_CLOSED = createError('GW_ERR_ILP_WRITER_CLOSED', 'ilp writer closed', 503)
export const GW_ERR_ILP_ENCODE = createError<[string]>('GW_ERR_ILP_ENCODE', '%s', 500)
export const GW_ERR_ILP_TIMEOUT = createError<[number]>('GW_ERR_ILP_TIMEOUT', 'no answer from questdb within %d ms', 504)
export const GW_ERR_ILP_BUSY = createError('GW_ERR_ILP_BUSY', 'ilp sender: one request at a time', 500)
export const GW_ERR_ILP_GAVE_UP = createError<[string, { cause: unknown }?]>('GW_ERR_ILP_GAVE_UP', 'gave up: %s', 503)

export const GW_ERR_BAD_ALERT = createError<[string]>('GW_ERR_BAD_ALERT', '%s', 400)
export const GW_ERR_WEBHOOKS_CLOSED = createError('GW_ERR_WEBHOOKS_CLOSED', 'webhook delivery is closed', 503)

export const GW_ERR_ILP_HTTP = createError<[number, string]>('GW_ERR_ILP_HTTP', 'questdb answered %d: %s', 502)

/** QuestDB's non-2xx answer to /write; statusCode is QuestDB's own, so a 4xx (lines refused) is told apart from an outage. */
export function ilpHttpError (status: number, body: string): InstanceType<typeof GW_ERR_ILP_HTTP> {
  const err = new GW_ERR_ILP_HTTP(status, body)
  err.statusCode = status
  return err
}
