// QuestDB stopped for 30 s in the middle of a QoS 1 stream, then restarted:
// every acknowledged reading ends up in `readings`, once.
import t from 'tap'
import { join } from 'node:path'
import { startQuestDb } from '../../lib/questdb/managed.js'
import { startStack, issueTokens, connectVehicles, pollCount, duplicateReadings, tempDir } from '../../test/helper.js'
import { vehicleTopic } from '../../schemas/topics.js'

const VEHICLES = 50
const PER_VEHICLE = 400
const OUTAGE_MS = 30000

t.test('20,000 QoS 1 readings across a 30 s QuestDB outage: rows = acknowledged, no duplicates', async t => {
  const root = join(tempDir(t, 'fleetgate-qdb-'), 'root')
  let db = await startQuestDb({ root })
  t.teardown(() => db.stop())
  const stack = await startStack(t, db, { ACK_MODE: 'spool' })
  const ids = Array.from({ length: VEHICLES }, (_, i) => `out-${i}`)
  const clients = await connectVehicles(t, stack.mqttUrl, issueTokens(stack.config.DATA_DIR, ids))

  const base = Date.now() - 2 * 3600e3
  let acked = 0
  let ackedDuringOutage = 0
  let outage = false
  // 400 readings per vehicle, one every 100 ms: about 40 s of stream
  const streams = clients.map(async (c, v) => {
    for (let i = 0; i < PER_VEHICLE; i++) {
      const reading = { ts: new Date(base + i * 1000).toISOString(), seq: i, lat: -26 + v / 1000, lon: 28, speed_kmh: 30 }
      const sent = c.publishAsync(vehicleTopic(ids[v] as string, 'telemetry'), JSON.stringify(reading), { qos: 1 })
        .then(() => { acked++; if (outage) ackedDuringOutage++ })
      if (i % 10 === 9) await sent
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  })

  await new Promise(resolve => setTimeout(resolve, 5000))
  const ports = db.ports
  await db.stop()
  outage = true
  await new Promise(resolve => setTimeout(resolve, OUTAGE_MS))
  outage = false
  db = await startQuestDb({ root, ports })
  await Promise.all(streams)
  // every publish has its PUBACK by now (publishAsync resolved above or below)
  const deadline = Date.now() + 60000
  while (acked < VEHICLES * PER_VEHICLE && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))

  t.equal(acked, VEHICLES * PER_VEHICLE, 'every reading acknowledged')
  t.ok(ackedDuringOutage > 1000, `${ackedDuringOutage} acknowledged while QuestDB was down (from the spool)`)
  const rows = await pollCount(stack.pgUrl, 'SELECT count() n FROM readings', acked, 120000)
  t.equal(rows, acked, 'rows in readings = readings acknowledged')
  t.equal(await duplicateReadings(stack.pgUrl), 0, 'no duplicates')
})
