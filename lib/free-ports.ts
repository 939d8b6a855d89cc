// Free loopback ports for whatever must listen on a known port before it
// starts: the managed QuestDB, and the tests and benchmarks that start
// processes which cannot report a port 0 back.
import { createServer } from 'node:net'

export async function freePort (): Promise<number> {
  return (await freePorts(1))[0] as number
}

/**
 * `n` distinct free loopback ports. Every listener stays open until all are
 * known: closed one by one, the kernel could hand the same port out twice (a
 * QuestDB once got one port for HTTP and for its health endpoint, and did not
 * start).
 */
export async function freePorts (n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer())
  try {
    return await Promise.all(servers.map(async srv => await new Promise<number>((resolve, reject) => {
      srv.unref()
      srv.once('error', reject)
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port))
    })))
  } finally {
    await Promise.all(servers.map(async srv => await new Promise<void>(resolve => { if (srv.listening) srv.close(() => resolve()); else resolve() })))
  }
}
