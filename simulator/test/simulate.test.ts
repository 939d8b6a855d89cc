// simulate() against the real stack (managed QuestDB, gateway, api): the
// faults it reports are what the gateway quarantined, offline spells arrive as
// batches, and verify() catches a reading that is gone from QuestDB.
import t, { type Test } from 'tap'
import type { Config } from '../../schemas/config.js'
import { startQuestDbForTest, startStack, issueTokens, query, waitWalApplied } from '../../test/helper.js'
import { simulate, vehicleIds } from '../src/simulate.js'
import { verify } from '../src/verify.js'
import { shapeFactor } from '../src/simulate.js'
import { parseFaults } from '../src/cli.js'

/** A stack, and simulate()'s options for 20 vehicles named `prefix`* at 10 Hz, QoS 1, window 4. */
async function fleetOf20 (t: Test, prefix: string, config: Partial<Config> = {}) {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, config)
  const ids = vehicleIds(20, prefix)
  const tokens = issueTokens(stack.config.DATA_DIR, ids)
  return { stack, ids, fleet: { url: stack.mqttUrl, vehicles: 20, tokens, hz: 10, parkedIntervalS: 0.1, qos: 1 as const, window: 4, prefix } }
}

t.test('load shapes', async t => {
  t.equal(shapeFactor({ kind: 'steady' }, 5, 10), 1)
  t.equal(shapeFactor({ kind: 'ramp', fromFraction: 0 }, 5, 10), 0.5)
  t.equal(shapeFactor({ kind: 'burst', everyS: 10, lengthS: 2, factor: 5 }, 11, 60), 5)
  t.equal(shapeFactor({ kind: 'burst', everyS: 10, lengthS: 2, factor: 5 }, 13, 60), 1)
  t.same(parseFaults('malformed=0.1,wrong-token=1'), { malformed: 0.1, wrongToken: 1 })
  t.throws(() => parseFaults('teleport=0.1'), /unknown fault/)
})

t.test('faults counted, quarantined by reason, offline batches stored, and a removed row caught', async t => {
  const { stack, ids, fleet } = await fleetOf20(t, 'simt-', { ACK_MODE: 'commit' })
  const report = await simulate({
    ...fleet,
    durationS: 4,
    seed: 42,
    faults: { malformed: 0.02, schema: 0.02, future: 0.02, foreignTopic: 0.02, duplicate: 0.03, wrongToken: 0.5 },
    offline: { perHour: 1800, minS: 0.5, maxS: 1.5 }
  })
  t.equal(report.connectFailures, 0, 'every vehicle connected')
  t.equal(report.errors, 0, 'no errors')
  t.equal(report.unacked, 0, 'every reading acknowledged')
  t.ok(report.sent > 400, `${report.sent} readings sent`)
  for (const k of ['invalid_json', 'schema', 'future_ts', 'id_mismatch', 'duplicate', 'wrong_token'] as const) {
    t.ok(report.faults[k] > 0, `${report.faults[k]} ${k} sent`)
  }
  t.equal(report.wrongTokenRefused, report.faults.wrong_token, 'every wrong token refused at CONNACK')
  t.ok(report.offline.spells > 0 && report.offline.batches > 0, `${report.offline.spells} offline spells, ${report.offline.batches} batches`)
  t.equal(report.rejectedOnPurpose, report.faults.invalid_json + report.faults.schema + report.faults.future_ts + report.faults.id_mismatch)

  const v = await verify(report.ledger, stack.pgUrl)
  t.ok(v.ok, 'verify passes')
  t.equal(v.missing, 0)
  t.equal(v.duplicated, 0)
  t.equal(v.found, v.expected, `${v.found} rows, as acknowledged`)
  t.same(Object.fromEntries(Object.entries(v.rejections).map(([k, x]) => [k, x.found])), {
    invalid_json: report.faults.invalid_json,
    schema: report.faults.schema,
    future_ts: report.faults.future_ts,
    id_mismatch: report.faults.id_mismatch
  }, 'the gateway quarantined each fault under its reason')

  // take one acknowledged reading away from its vehicle (QuestDB updates WAL tables)
  const victim = ids[3] as string
  const ts = (report.ledger.byVehicle.get(victim) ?? [])[5] as number
  await query(stack.pgUrl, "UPDATE readings SET vehicle_id = 'removed-by-test' WHERE vehicle_id = $1 AND ts = cast($2 AS long)", [victim, String(ts * 1000)])
  await waitWalApplied(stack.pgUrl)
  const after = await verify(report.ledger, stack.pgUrl)
  t.notOk(after.ok, 'verify fails')
  t.equal(after.missing, 1, 'one missing')
  t.same(after.missingExamples, [{ vehicle_id: victim, ts: new Date(ts).toISOString() }], 'the one removed')
})

t.test('QoS 0 over WebSocket, and a connect storm', async t => {
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const ids = vehicleIds(200, 'ws-')
  const tokens = issueTokens(stack.config.DATA_DIR, ids)
  const ws = stack.gw.gateway.addresses.ws as string
  const report = await simulate({ url: ws, vehicles: 200, tokens, hz: 2, parkedIntervalS: 0.5, durationS: 2, qos: 0, prefix: 'ws-', connectSpreadS: 0.5 })
  t.equal(report.transport, 'ws')
  t.equal(report.connectFailures, 0, '200 vehicles connected within half a second')
  t.ok(report.connectMs.max > 0)
  const v = await verify(report.ledger, stack.pgUrl)
  t.ok(v.ok, `QoS 0: ${v.found} of ${v.expected} stored`)
})

t.test('a warm-up is left out of the PUBACK percentiles, the timeline has every second, the own loop delay is reported', async t => {
  const { stack, fleet } = await fleetOf20(t, 'wu-')
  const phases: string[] = []
  const report = await simulate({
    ...fleet,
    durationS: 3,
    warmupS: 1,
    onPhase: p => {
      phases.push(p)
      // the simulator's own loop blocked for 150 ms while it measures
      if (p === 'measuring') setTimeout(() => { const end = performance.now() + 150; while (performance.now() < end); }, 500)
    }
  })
  t.same(phases, ['publishing', 'measuring', 'draining'])
  t.equal(report.warmupS, 1)
  t.equal(report.unacked, 0)
  t.same(report.pubackTimeline.map(x => x.s), [0, 1, 2, 3].slice(0, report.pubackTimeline.length), 'one entry per second')
  t.equal(report.pubackTimeline.reduce((n, x) => n + x.n, 0), report.acked, 'the timeline counts every acknowledgement')
  const afterWarmup = report.pubackTimeline.filter(x => x.s >= 1).reduce((n, x) => n + x.n, 0)
  t.equal(report.pubackSamples, afterWarmup, 'the percentiles count only what was sent after the first second')
  t.ok(report.pubackSamples > 0 && report.pubackSamples < report.acked)
  t.ok(report.pubackAllMs.max >= report.pubackMs.max)
  t.ok(report.loopLagMs.max >= 100, `the simulator reports its own blocked loop (max ${report.loopLagMs.max} ms)`)
  t.ok(report.loopLagMs.p50 <= report.loopLagMs.p99 && report.loopLagMs.p99 <= report.loopLagMs.max)
  const v = await verify(report.ledger, stack.pgUrl)
  t.ok(v.ok, 'the warm-up\'s readings are verified like the rest')
})
