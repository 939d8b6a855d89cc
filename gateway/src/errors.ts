// Coded errors of the gateway (STYLE.md habit 4). Callers match on err.code.
//
// | code                    | when                                                  |
// | ----------------------- | ----------------------------------------------------- |
// | GW_ERR_SHUTTING_DOWN    | a publish arrived after SIGTERM; not acknowledged      |
// | GW_ERR_SPOOL_CLOSED     | the spool was closed before a write became durable     |
// | GW_ERR_BAD_ALERT        | an alert given to webhook delivery does not match schemas/alert.schema.json; none of its batch is queued |
// | GW_ERR_WEBHOOKS_CLOSED  | alerts enqueued after webhook delivery was closed; not queued |
export type GatewayErrorCode = 'GW_ERR_SHUTTING_DOWN' | 'GW_ERR_SPOOL_CLOSED' | 'GW_ERR_BAD_ALERT' | 'GW_ERR_WEBHOOKS_CLOSED'

export class GatewayError extends Error {
  constructor (public readonly code: GatewayErrorCode, message: string) {
    super(message)
    this.name = 'GatewayError'
  }
}
