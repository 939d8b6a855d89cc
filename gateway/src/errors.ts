// Coded errors of the gateway (STYLE.md habit 4). Callers match on err.code.
//
// | code                    | when                                                  |
// | ----------------------- | ----------------------------------------------------- |
// | GW_ERR_SHUTTING_DOWN    | a publish arrived after SIGTERM; not acknowledged      |
// | GW_ERR_SPOOL_CLOSED     | the spool was closed before a write became durable     |
export type GatewayErrorCode = 'GW_ERR_SHUTTING_DOWN' | 'GW_ERR_SPOOL_CLOSED'

export class GatewayError extends Error {
  constructor (public readonly code: GatewayErrorCode, message: string) {
    super(message)
    this.name = 'GatewayError'
  }
}
