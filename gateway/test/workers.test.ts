// `fleetgate start` with GATEWAY_WORKERS=2, as users run it (API keys
// required): connections spread over both workers, the live feed carries
// vehicles of both, a takeover across workers leaves one session, a revoke
// closes a session wherever it is, and a worker killed with SIGKILL under
// QoS 1 load comes back and loses nothing.
import t from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { execFileSync } from 'node:child_process'
import { freePort } from '../../lib/free-ports.js'
import { startQuestDbForTest, issueTokens, pollCount, pollUntil, duplicateReadings, tempDir, query } from '../../test/helper.js'
import { startGatewayProcess, waitConnectable, exited } from '../../test/gateway-process-helper.js'
import { openLive, wsUrl } from '../../api/test/live-helper.js'
import { createApiKey } from '../../api/src/api-keys.js'
import { revokeToken } from '../src/broker/device-registry.js'
import { vehicleTopic } from '../../schemas/topics.js'
import { simulate, vehicleIds } from '../../simulator/src/simulate.js'
import { verify } from '../../simulator/src/verify.js'

function workerPids (primary: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' })
  return out.split('\n').filter(l => l.includes('cli.ts')).map(l => Number(l.trim().split(/\s+/)[0]))
}

async function metricsText (httpUrl: string): Promise<string> {
  return await (await fetch(`${httpUrl}/metrics`)).text()
}

/** Per worker: the value of an unlabelled gateway metric. */
function perWorker (text: string, name: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const m of text.matchAll(new RegExp(`^${name}\\{worker="(\\d+)"\\} (\\d+)`, 'gm'))) out.set(m[1] as string, Number(m[2]))
  return out
}

t.test('two gateway workers behind one port', async t => {
  const db = await startQuestDbForTest(t)
  const dataDir = tempDir(t)
  const [mqttPort, httpPort] = [await freePort(), await freePort()]
  const ids = Array.from({ length: 20 }, (_, i) => `w-${i}`)
  const tokens = issueTokens(dataDir, [...ids, 'w-take', 'w-probe'])
  const { key } = createApiKey(dataDir, 'read')
  const url = `mqtt://127.0.0.1:${mqttPort}`
  const httpUrl = `http://127.0.0.1:${httpPort}`
  const env = { DATA_DIR: dataDir, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(mqttPort), MQTT_WS_PORT: '-1', HTTP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, GATEWAY_WORKERS: '2' }
  const primary = startGatewayProcess(env, 'start')
  t.teardown(async () => { primary.kill('SIGTERM'); await exited(primary) })
  await waitConnectable(url, tokens.get('w-probe') as string, 'w-probe')
  await pollUntil(async () => (await fetch(`${httpUrl}/readyz`).catch(() => null))?.status === 200, 60000, 'api ready')
  t.equal(workerPids(primary.pid as number).length, 2, 'two worker processes')

  // the live feed, on the api in the primary, subscribed to every vehicle
  const live = await openLive(t, wsUrl(httpUrl), { headers: { authorization: `Bearer ${key}` } })
  live.send({ type: 'subscribe', vehicles: '*' })
  await live.next(m => m.type === 'snapshot', 'snapshot')

  const connect = async (id: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(url, { clientId: id, username: id, password: tokens.get(id), reconnectPeriod: 0, protocolVersion: 4 })
    c.on('error', () => {})
    return c
  }
  const clients = new Map<string, MqttClient>()
  for (const id of ids) clients.set(id, await connect(id))
  t.teardown(() => { for (const c of clients.values()) c.end(true) })
  await pollUntil(async () => [...perWorker(await metricsText(httpUrl), 'fleetgate_mqtt_connected_clients').values()].reduce((a, b) => a + b, 0) === 20, 15000, '20 sessions').catch(() => {})
  const spread = perWorker(await metricsText(httpUrl), 'fleetgate_mqtt_connected_clients')
  t.same([...spread.keys()].sort(), ['0', '1'], 'both workers report, labelled by worker')
  t.ok([...spread.values()].every(n => n > 0), `the 20 sessions are spread over both workers (${[...spread.values()].join(' and ')})`)

  // QoS 1 from every vehicle; each PUBACK counted
  const acked = new Map<string, number>()
  let stop = false
  const base = Date.now() - 3600e3
  const streams = ids.map(async (id, v) => {
    for (let i = 0; !stop; i++) {
      const c = clients.get(id) as MqttClient
      try {
        if (!c.connected) throw new Error('not connected')
        // without reconnects, mqtt.js neither settles nor resends a publish in flight at a close
        const closed = new Promise<never>((_resolve, reject) => c.once('close', () => reject(new Error('closed'))))
        await Promise.race([c.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts: new Date(base + i * 1000).toISOString(), lat: 1 + v / 100, lon: 2, seq: i }), { qos: 1 }), closed])
        acked.set(id, i + 1)
      } catch {
        // its worker died: reconnect (to any worker) and send the same reading again
        i--
        await new Promise(resolve => setTimeout(resolve, 200))
        try { clients.set(id, await connect(id)) } catch {}
      }
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  })
  await pollUntil(async () => ids.every(id => live.positions.some(p => p.vehicle_id === id)), 15000, 'positions of every vehicle').catch(() => {})
  t.equal(new Set(live.positions.map(p => p.vehicle_id)).size, 20, 'the live feed carries the vehicles of both workers')

  // a takeover across workers: the same id connects again, the old session ends, no offline
  const first = await connect('w-take')
  const firstClosed = new Promise<void>(resolve => first.once('close', () => resolve()))
  const second = await connect('w-take')
  t.teardown(() => { first.end(true); second.end(true) })
  await firstClosed
  t.pass('the first session of w-take was closed')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.ok(second.connected, 'the second stays')

  // the simulator's --verify across two workers' spools (ACK_MODE=spool:
  // a PUBACK means in a spool, whichever worker's)
  const simIds = vehicleIds(20, 'wsim-')
  const report = await simulate({ url, vehicles: 20, tokens: issueTokens(dataDir, simIds), hz: 10, parkedIntervalS: 0.1, qos: 1, window: 4, prefix: 'wsim-', durationS: 3 })
  const v = await verify(report.ledger, db.pgUrl)
  t.ok(v.ok && v.missing === 0 && v.duplicated === 0, `simulator verify across workers: ${v.found} of ${v.expected} found, ${v.missing} missing, ${v.duplicated} duplicated`)

  // a revoke closes a session wherever it runs, within a second
  const victim = clients.get('w-19') as MqttClient
  const t0 = Date.now()
  const revoked = new Promise<void>(resolve => victim.once('close', () => resolve()))
  revokeToken(dataDir, 'w-19')
  await revoked
  t.ok(Date.now() - t0 < 1500, `the revoked vehicle's session was closed after ${Date.now() - t0} ms`)
  ids.pop()
  clients.delete('w-19')

  // one worker killed with SIGKILL under load: restarted, its spool replayed
  const [victimPid] = workerPids(primary.pid as number)
  process.kill(victimPid as number, 'SIGKILL')
  await pollUntil(async () => workerPids(primary.pid as number).filter(p => p !== victimPid).length === 2, 30000, 'worker restarted')
  t.pass('the primary restarted the killed worker')
  await new Promise(resolve => setTimeout(resolve, 3000))
  stop = true
  await Promise.all(streams)
  const total = [...acked.entries()].filter(([id]) => ids.includes(id)).reduce((a, [, n]) => a + n, 0)
  const stored = await pollCount(db.pgUrl, `SELECT count() n FROM (SELECT DISTINCT vehicle_id, seq FROM readings WHERE vehicle_id IN (${ids.map(i => `'${i}'`).join(',')}))`, total)
  t.ok(stored >= total, `every acknowledged reading is stored (${stored} of ${total})`)
  t.equal(await duplicateReadings(db.pgUrl), 0, 'none twice')
  const status = await query<{ online: boolean, ts: string }>(db.pgUrl, "SELECT online, ts FROM vehicle_status WHERE vehicle_id = 'w-take' ORDER BY ts")
  t.ok(status.length > 0 && status.every(s => s.online), `w-take: online, and no offline from the takeover (${status.map(s => s.online).join(', ')})`)
  t.equal(status.length, 1, 'and online once: the worker it moved to had the status handed over')
})
