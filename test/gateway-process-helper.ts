// The gateway as its own process (bin/cli.ts gateway), for tests that kill it
// or watch its memory from outside.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'

const root = fileURLToPath(new URL('../', import.meta.url))

export function startGatewayProcess (env: Record<string, string>, cmd: 'gateway' | 'start' | 'api' = 'gateway'): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/cli.ts', cmd], {
    cwd: root,
    env: { ...process.env, ...env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'inherit', 'inherit']
  })
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
