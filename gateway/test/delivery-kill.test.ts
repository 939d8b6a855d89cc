// The gateway killed with SIGKILL in the middle of a QoS 1 stream and
// restarted: every acknowledged reading is in QuestDB after the replay.
import t from 'tap'
import mqtt from 'mqtt'
import { freePort } from '../../lib/free-ports.js'
import { startQuestDbForTest, issueTokens, query, pollCount, duplicateReadings, tempDir } from '../../test/helper.js'
import { vehicleTopic } from '../../schemas/topics.js'
import { startGatewayProcess, waitConnectable, exited } from '../../test/gateway-process-helper.js'

t.test('SIGKILL mid-stream, restart: every acknowledged reading is stored', async t => {
  const db = await startQuestDbForTest(t)
  const dataDir = tempDir(t)
  const port = await freePort()
  const env = { DATA_DIR: dataDir, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(port), MQTT_WS_PORT: '-1', QUESTDB_HTTP_URL: db.httpUrl, QUESTDB_PG_URL: db.pgUrl, ACK_MODE: 'spool', GATEWAY_HTTP_PORT: '0', ILP_FLUSH_INTERVAL_MS: '20' }
  const ids = Array.from({ length: 10 }, (_, i) => `kill-${i}`)
  const tokens = issueTokens(dataDir, ids)
  const url = `mqtt://127.0.0.1:${port}`

  let gw = startGatewayProcess(env)
  t.teardown(async () => { gw.kill('SIGTERM'); await exited(gw) })
  await waitConnectable(url, tokens.get('kill-0') as string, 'kill-0')

  const acked = new Set<string>()
  let sent = 0
  let stop = false
  const clients = await Promise.all(ids.map(id => mqtt.connectAsync(url, { clientId: id, username: id, password: tokens.get(id), reconnectPeriod: 0 })))
  const base = Date.now() - 3600e3
  const streams = clients.map(async (c, v) => {
    const id = ids[v] as string
    c.on('error', () => {})
    for (let i = 0; !stop && c.connected; i++) {
      const ts = new Date(base + i * 10).toISOString()
      sent++
      // a window of 20 unacknowledged publishes per vehicle
      const p = c.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts, seq: i, lat: 1, lon: 1 }), { qos: 1 })
        .then(() => { acked.add(`${id}/${i}`) }, () => {})
      if (i % 20 === 19) await p
    }
  })
  // kill once a good part of the stream has been acknowledged
  while (acked.size < 3000) await new Promise(resolve => setTimeout(resolve, 20))
  gw.kill('SIGKILL')
  await exited(gw)
  stop = true
  await Promise.race([Promise.all(streams), new Promise(resolve => setTimeout(resolve, 5000))])
  await Promise.all(clients.map(c => c.endAsync(true).catch(() => {})))
  const ackedAtKill = new Set(acked)
  t.ok(ackedAtKill.size >= 3000, `${ackedAtKill.size} acknowledged of ${sent} sent before the kill`)

  gw = startGatewayProcess(env)
  await waitConnectable(url, tokens.get('kill-0') as string, 'kill-0')
  const stored = await pollCount(db.pgUrl, 'SELECT count() n FROM readings', ackedAtKill.size, 120000)
  t.ok(stored >= ackedAtKill.size, `${stored} rows stored for ${ackedAtKill.size} acknowledged`)
  const rows = await query<{ vehicle_id: string, seq: string }>(db.pgUrl, 'SELECT vehicle_id, seq FROM readings')
  const have = new Set(rows.map(r => `${r.vehicle_id}/${r.seq}`))
  const missing = [...ackedAtKill].filter(k => !have.has(k))
  t.same(missing, [], 'no acknowledged reading is missing')
  t.equal(await duplicateReadings(db.pgUrl), 0, 'no duplicates after the replay')

  // SIGTERM: stop accepting, drain, close cleanly with exit code 0
  const code = new Promise<number | null>(resolve => gw.once('exit', c => resolve(c)))
  gw.kill('SIGTERM')
  t.equal(await code, 0, 'a clean exit on SIGTERM')
})
