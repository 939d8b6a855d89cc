// Webhooks over the admin API: register (the secret shown once), list, get,
// delete, and the dead letters with a retry. Registrations append to
// DATA_DIR/webhooks.jsonl, which the gateways follow; the dead letters are
// read from the gateways' queues under the same DATA_DIR.
import type { FastifyPluginAsync } from 'fastify'
import type { WebhookCreate, WebhookDeadLetters, WebhookList, WebhookRetry, WebhookSecret, Webhook } from '../../../schemas/types.js'
import { readDeadLetters } from '../../../gateway/src/index.js'
import { deleteWebhook, readWebhooks, registerWebhook, requestDeadLetterRetry, webhookUrlProblem, withoutSecret } from '../../../gateway/src/index.js'
import { idempotencyKey } from '../../../gateway/src/index.js'
import { ref } from '../api-schemas.js'
import { API_ERR_BAD_WEBHOOK_URL, API_ERR_NOT_FOUND } from '../errors.js'
import { adminErrors, guardAdmin, type AdminOptions } from './admin-access.js'

const base = { config: { role: 'admin' as const }, tags: ['webhooks'], security: [{ apiKey: [] }] }
const hookParams = { type: 'object', required: ['webhookId'], properties: { webhookId: { type: 'string', pattern: '^wh_[0-9a-f]{16}$', description: 'The webhook\'s id (as listed).' } } } as const

function notFound (id: string): Error {
  return new API_ERR_NOT_FOUND(`no webhook ${id}`)
}

const webhooks: FastifyPluginAsync<AdminOptions> = async (fastify, opts) => {
  const dir = opts.dataDir
  guardAdmin(fastify, opts, () => { throw new Error('webhooks are registered as JSON') })

  function find (id: string): Webhook {
    const hook = readWebhooks(dir).get(id)
    if (!hook) throw notFound(id)
    return withoutSecret(hook)
  }

  fastify.get('/webhooks', {
    config: base.config,
    schema: { ...base, summary: 'Webhooks (never their secrets)', response: { 200: ref('webhook-list'), ...adminErrors } }
  }, async (): Promise<WebhookList> => ({ webhooks: [...readWebhooks(dir).values()].map(withoutSecret) }))

  fastify.post<{ Body: WebhookCreate }>('/webhooks', {
    config: base.config,
    schema: { ...base, summary: 'Register a webhook for all alerts or some rules or types; its secret is shown once', body: ref('webhook-create'), response: { 201: ref('webhook-secret'), ...adminErrors } }
  }, async (request, reply): Promise<WebhookSecret> => {
    const problem = webhookUrlProblem(request.body.url)
    if (problem !== null) throw new API_ERR_BAD_WEBHOOK_URL(`url: ${problem}`)
    const made = registerWebhook(dir, request.body)
    request.log.info({ id: made.id, key: request.apiKey?.id }, 'webhook registered')
    void reply.code(201)
    return made
  })

  fastify.get<{ Params: { webhookId: string } }>('/webhooks/:webhookId', {
    config: base.config,
    schema: { ...base, summary: 'One webhook', params: hookParams, response: { 200: ref('webhook'), ...adminErrors } }
  }, async (request): Promise<Webhook> => find(request.params.webhookId))

  fastify.delete<{ Params: { webhookId: string } }>('/webhooks/:webhookId', {
    config: base.config,
    schema: { ...base, summary: 'Delete a webhook; its pending deliveries and dead letters are dropped', params: hookParams, response: { 204: { description: 'Deleted.', type: 'null' }, ...adminErrors } }
  }, async (request, reply) => {
    if (!deleteWebhook(dir, request.params.webhookId)) throw notFound(request.params.webhookId)
    request.log.info({ id: request.params.webhookId, key: request.apiKey?.id }, 'webhook deleted')
    return await reply.code(204).send()
  })

  fastify.get<{ Params: { webhookId: string } }>('/webhooks/:webhookId/dead-letters', {
    config: base.config,
    schema: { ...base, summary: 'Deliveries given up after WEBHOOK_MAX_AGE_S, with their last error', params: hookParams, response: { 200: ref('webhook-dead-letters'), ...adminErrors } }
  }, async (request): Promise<WebhookDeadLetters> => {
    const hook = find(request.params.webhookId)
    return {
      dead_letters: readDeadLetters(dir, hook.id).map(l => ({
        idempotency_key: idempotencyKey(hook, l.alert),
        alert: l.alert,
        enqueued_at: new Date(l.enq).toISOString(),
        dead_at: new Date(l.dead).toISOString(),
        attempts: l.attempts,
        last_error: l.error
      }))
    }
  })

  fastify.post<{ Params: { webhookId: string } }>('/webhooks/:webhookId/dead-letters/retry', {
    config: base.config,
    schema: { ...base, summary: 'Queue the dead letters again (each gateway within a second), with a new WEBHOOK_MAX_AGE_S', params: hookParams, response: { 202: ref('webhook-retry'), ...adminErrors } }
  }, async (request, reply): Promise<WebhookRetry> => {
    const id = request.params.webhookId
    const deadLetters = readDeadLetters(dir, id).length
    const at = requestDeadLetterRetry(dir, id)
    if (at === null) throw notFound(id)
    request.log.info({ id, deadLetters, key: request.apiKey?.id }, 'webhook dead letters retried')
    void reply.code(202)
    return { requested_at: at, dead_letters: deadLetters }
  })
}

export default webhooks
