// The gateway as its own process (bin/cli.ts gateway), for tests that kill it
// or watch its memory from outside.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'

const root = fileURLToPath(new URL('../', import.meta.url))

export interface ProcessOptions {
  /** LOG_LEVEL of the child (default warn). */
  logLevel?: string
  /** When given, the child's stdout (JSON log lines) is collected here instead of inherited. */
  logs?: string[]
}

export function startGatewayProcess (env: Record<string, string>, cmd: 'gateway' | 'start' | 'api' = 'gateway', opts: ProcessOptions = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', cmd], {
    cwd: root,
    env: { ...process.env, ...env, LOG_LEVEL: opts.logLevel ?? 'warn', LOG_FORMAT: 'json' },
    stdio: ['ignore', opts.logs ? 'pipe' : 'inherit', 'inherit']
  })
  const logs = opts.logs
  if (logs) {
    let rest = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      const lines = (rest + d).split('\n')
      rest = lines.pop() ?? ''
      logs.push(...lines)
    })
  }
  return child
}

export async function waitConnectable (url: string, token: string, id: string): Promise<void> {
  const deadline = Date.now() + 60000
  for (;;) {
    try {
      const c = await mqtt.connectAsync(url, { clientId: id, username: id, password: token, reconnectPeriod: 0, connectTimeout: 2000 })
      await c.endAsync(true)
      return
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
}

export function exited (child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise(resolve => child.once('exit', () => resolve()))
}

/** SIGTERM, and SIGKILL if the child has not exited after graceMs: a teardown that cannot hang. */
export async function stopProcess (child: ChildProcess, graceMs = 20000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), graceMs) })
  const tooLate = await Promise.race([exited(child).then(() => false), late])
  clearTimeout(timer)
  if (tooLate) {
    child.kill('SIGKILL')
    await exited(child)
  }
}
