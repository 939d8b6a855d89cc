// The ILP sender against a real HTTP server that answers like QuestDB's /write:
// its errors carry a code and QuestDB's status, and the status (not the text)
// decides between "refused, set aside" and "retry".
import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'
import { GW_ERR_ILP_HTTP } from '../../src/errors.js'
import { quietLogger } from '../../../test/helper.js'

async function answering (t: Test, status: number, body: string): Promise<{ url: string, requests: () => number }> {
  let requests = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => { requests++; res.writeHead(status).end(body) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests: () => requests }
}

t.test('a 4xx is refused lines: handed to onPoison with GW_ERR_ILP_HTTP and QuestDB\'s status, not retried', async t => {
  // the body deliberately holds no "statusCode=" text: the status itself decides
  const q = await answering(t, 400, '{"message":"cast error"}')
  const poisoned: Error[] = []
  const sender = createIlpSender({ httpUrl: q.url, log: quietLogger(), backoffMinMs: 5, backoffMaxMs: 5, onPoison: (_c, err) => poisoned.push(err) })
  t.teardown(() => sender.close())
  await sender.send([Buffer.from('readings,vehicle_id=v1 lat=1.0 1\n')])
  t.equal(q.requests(), 1, 'sent once')
  t.equal(poisoned.length, 1)
  t.match(poisoned[0], { code: 'GW_ERR_ILP_HTTP', statusCode: 400 })
  t.ok(poisoned[0] instanceof GW_ERR_ILP_HTTP)
  t.match(poisoned[0]?.message, /cast error/, 'QuestDB\'s answer kept for the operator')
})

t.test('a 5xx is retried; giving up rejects GW_ERR_ILP_GAVE_UP whose cause carries the status', async t => {
  const q = await answering(t, 503, '{"message":"down"}')
  const sender = createIlpSender({ httpUrl: q.url, log: quietLogger(), backoffMinMs: 5, backoffMaxMs: 5, onPoison: () => t.fail('a 5xx is no poison') })
  t.teardown(() => sender.close())
  const err = await sender.send([Buffer.from('readings,vehicle_id=v1 lat=1.0 1\n')], () => q.requests() >= 3).then(() => null, (e: unknown) => e)
  t.match(err, { code: 'GW_ERR_ILP_GAVE_UP', statusCode: 503 })
  t.match((err as Error).cause, { code: 'GW_ERR_ILP_HTTP', statusCode: 503 })
  t.ok(q.requests() >= 3, 'retried until told to stop')
})

t.test('a second send while one is in flight is refused with GW_ERR_ILP_BUSY', async t => {
  const q = await answering(t, 503, 'down')
  const sender = createIlpSender({ httpUrl: q.url, log: quietLogger(), backoffMinMs: 5, backoffMaxMs: 5 })
  t.teardown(() => sender.close())
  let stop = false
  const first = sender.send([Buffer.from('x\n')], () => stop)
  await t.rejects(sender.send([Buffer.from('y\n')]), { code: 'GW_ERR_ILP_BUSY' })
  stop = true
  await t.rejects(first, { code: 'GW_ERR_ILP_GAVE_UP' })
})
