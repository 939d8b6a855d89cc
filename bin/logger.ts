// One root pino logger per process: JSON, secrets redacted, pretty only on a TTY.
import { hostname } from 'node:os'
import { pino, type Logger } from 'pino'

/** `node` names this node in every line (NODE_ID), beside pino's pid and hostname. */
export function createLogger (level: string, node?: string): Logger {
  const pretty = process.stdout.isTTY === true && process.env.LOG_FORMAT !== 'json'
  return pino({
    level,
    ...(node !== undefined ? { base: { pid: process.pid, hostname: hostname(), node } } : {}),
    redact: { paths: ['password', '*.password', 'token', '*.token', 'req.headers.authorization', 'headers.authorization', 'pgUrl'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  })
}
