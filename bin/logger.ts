// One root pino logger per process: JSON, secrets redacted, pretty only on a TTY.
import { pino, type Logger } from 'pino'

export function createLogger (level: string): Logger {
  const pretty = process.stdout.isTTY === true && process.env.LOG_FORMAT !== 'json'
  return pino({
    level,
    redact: { paths: ['password', '*.password', 'token', '*.token', 'req.headers.authorization', 'headers.authorization', 'pgUrl'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  })
}
