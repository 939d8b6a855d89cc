// Status and rejection rows are keyed by a received time that only one
// process keeps strictly increasing: two processes (nodes, workers) writing
// to one QuestDB must not replace each other's rows, while a replay of the
// same lines still upserts. Tables made before the `origin` key get it at
// start.
import t from 'tap'
import { createTables, execSql } from '../../src/questdb/tables.js'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'
import { createFastIlpEncoder } from '../../src/questdb/ilp-fast-encoder.js'
import { createToRows, emptyRows } from '../../src/ingest/to-rows.js'
import { createValidators } from '../../src/ingest/validate.js'
import { startQuestDbForTest, quietLogger, pollCount, query, waitWalApplied, count } from '../../../test/helper.js'

const limits = { maxPayloadBytes: 262144, maxBatch: 1000, retentionDays: 30 }

t.test('two processes rejecting for the same vehicle at the same instant keep both rows; a replay doubles nothing', async t => {
  const db = await startQuestDbForTest(t)
  await createTables(db.httpUrl, 30)
  const sender = createIlpSender({ httpUrl: db.httpUrl, log: quietLogger() })
  t.teardown(() => sender.close())
  // the same instant on both: each process's clock is strictly increasing only within itself
  const instant = Date.now() * 1000
  const lines = ['node-a/0', 'node-b/0'].map(origin => {
    const toRows = createToRows(createValidators(), limits, () => instant)
    const rows = toRows('clash', 'telemetry', 'fleet/clash/telemetry', Buffer.from('{not json'))
    rows.status.push(...toRows('clash', 'status', 'fleet/clash/status', Buffer.from('online')).status)
    return createFastIlpEncoder({ origin }).encode(rows) as Buffer
  })
  await sender.send(lines)
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'clash'", 2, 30000), 2, 'both rejections are kept')
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM vehicle_status WHERE vehicle_id = 'clash'", 2, 30000), 2, 'both status rows are kept')
  // a spool replay sends the very same lines again
  await sender.send(lines)
  await waitWalApplied(db.pgUrl, 30000)
  t.equal(await count(db.pgUrl, "SELECT count() n FROM rejections WHERE vehicle_id = 'clash'"), 2, 'a replay upserts the rejections')
  t.equal(await count(db.pgUrl, "SELECT count() n FROM vehicle_status WHERE vehicle_id = 'clash'"), 2, 'and the status rows')
})

t.test('tables made before the origin key get the column and the key at start, idempotently', async t => {
  const db = await startQuestDbForTest(t)
  // as tables.sql made them before
  await execSql(db.httpUrl, 'CREATE TABLE vehicle_status (ts TIMESTAMP, vehicle_id SYMBOL, online BOOLEAN) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, vehicle_id)')
  await execSql(db.httpUrl, 'CREATE TABLE rejections (ts TIMESTAMP, vehicle_id SYMBOL, topic VARCHAR, reason SYMBOL, detail VARCHAR, payload VARCHAR) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, vehicle_id)')
  await createTables(db.httpUrl, 30)
  await createTables(db.httpUrl, 30)
  // a WAL table's ALTERs apply asynchronously
  await waitWalApplied(db.pgUrl, 30000)
  for (const table of ['vehicle_status', 'rejections']) {
    const cols = await query<{ column: string, upsertKey: boolean }>(db.pgUrl, `SELECT "column", upsertKey FROM table_columns('${table}')`)
    t.same(cols.filter(c => c.upsertKey).map(c => c.column).sort(), ['origin', 'ts', 'vehicle_id'], `${table}: keyed by (ts, vehicle_id, origin)`)
  }
  const lines = ['node-a/0', 'node-b/0'].map(origin => {
    const rows = emptyRows()
    rows.status.push({ vehicleId: 'old', tsUs: Date.now() * 1000, online: true })
    return createFastIlpEncoder({ origin }).encode(rows) as Buffer
  })
  const sender = createIlpSender({ httpUrl: db.httpUrl, log: quietLogger() })
  t.teardown(() => sender.close())
  await sender.send(lines)
  t.equal(await pollCount(db.pgUrl, "SELECT count() n FROM vehicle_status WHERE vehicle_id = 'old'", 2, 30000), 2, 'two origins, two rows in an upgraded table')
})
