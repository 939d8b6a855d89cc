// A real redis-server (Debian's) for tests: a free loopback port, its own
// directory, no persistence; stopped by its pid at teardown. stop() and
// start() take it away and bring it back on the same port, for outages.
import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'
import type { Test } from 'tap'
import { freePort } from '../lib/free-ports.js'
import { pollUntil } from './helper.js'
import { tempDir } from './helper.js'

export interface TestRedis {
  url: string
  port: number
  stop: () => Promise<void>
  start: () => Promise<void>
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'

async function answers (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection({ port, host: '127.0.0.1' })
    s.once('error', () => resolve(false))
    s.once('connect', () => s.write('PING\r\n'))
    s.once('data', d => { s.destroy(); resolve(d.toString().startsWith('+PONG')) })
  })
}

export async function startRedisForTest (t: Test): Promise<TestRedis> {
  const port = await freePort()
  const dir = tempDir(t, 'fleetgate-redis-')
  let child: ChildProcess | null = null
  async function start (): Promise<void> {
    const c = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', ''], { stdio: 'ignore' })
    child = c
    await pollUntil(async () => {
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}`)
      return await answers(port)
    }, 10000, 'redis-server up')
  }
  async function stop (): Promise<void> {
    const c = child
    child = null
    if (c === null || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(stop)
  return { url: `redis://127.0.0.1:${port}`, port, stop, start }
}
