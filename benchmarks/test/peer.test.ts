import t from 'tap'
import { spawn } from 'node:child_process'
import { climb, turns } from '../harness/ladder.js'
import { processTree, procStats, treeCpuS } from '../harness/processes.js'
import { toMarkdown } from '../harness/report.js'

t.test('ladders climbing through turns() alternate their steps, and one goes on alone once the other stops', async t => {
  const turn = turns()
  const order: string[] = []
  const side = (name: string, capacity: number) => climb({ start: 1000, max: 100000, factor: 2, refine: 0 }, async rate => await turn(async () => {
    order.push(`${name}${rate}`)
    await new Promise(resolve => setTimeout(resolve, 5))
    return rate <= capacity
  }))
  const [a, b] = await Promise.all([side('A', 4000), side('B', 1000)])
  t.same(order, ['A1000', 'B1000', 'A2000', 'B2000', 'A4000', 'A8000'])
  t.same(a, { held: 4000, failed: 8000 })
  t.same(b, { held: 1000, failed: 2000 })
})

t.test('a step that throws does not stop the turns of the others', async t => {
  const turn = turns()
  const failed = turn(async () => { throw new Error('step failed') })
  const next = turn(async () => 'ran')
  await t.rejects(failed, /step failed/)
  t.equal(await next, 'ran')
})

t.test('processTree finds a child and its grandchild; treeCpuS counts the grandchild\'s CPU', async t => {
  // a shell whose child, a node process, burns CPU for a moment and then idles
  const burn = 'const t = Date.now(); while (Date.now() - t < 300); setTimeout(() => {}, 30000)'
  const child = spawn('sh', ['-c', `${process.execPath} -e '${burn}' & wait`], { stdio: 'ignore' })
  t.teardown(() => { for (const p of processTree(child.pid as number).reverse()) { try { process.kill(p, 'SIGKILL') } catch {} } })
  const root = child.pid as number
  const deadline = Date.now() + 20000
  // poll until the grandchild's CPU shows
  while (Date.now() < deadline && treeCpuS([root]) < 0.2) await new Promise(resolve => setTimeout(resolve, 50))
  const tree = processTree(root)
  t.equal(tree[0], root, 'the process first')
  t.equal(tree.length, 2, 'the shell and its node child')
  t.ok(treeCpuS([root]) >= 0.2, 'the child\'s loop is counted')
  t.ok(procStats(root).cpuS < 0.1, 'and it is not the shell\'s')
  t.same(processTree(2 ** 22 + 12345), [], 'a process that is gone has no tree')
})

t.test('the report gives fleetgate/peer ratios and verdicts for each figure', async t => {
  const lat = (p50: number[], p99: number[], cpu: Record<string, number>) => ({ runs: p50.map(() => ({})), pubackP50Ms: p50[0], pubackP99Ms: p99[0], pubackP50MsRuns: p50, pubackP99MsRuns: p99, ackedPerS: 19990, cpuSPer100k: cpu })
  const md = toMarkdown({
    date: 'd',
    commit: 'c',
    machine: { cpu: 'x', cores: 2, memoryGb: 1, node: 'v', loadAverageAtStart: [1] },
    peer: {
      sides: ['fleetgate', 'Mosquitto + bridge'],
      settings: { stepS: 30 },
      ladder: {
        fleetgate: { sustainedPerS: 45000, steps: [{ targetPerS: 50000, ackedPerS: 40000, ok: false, missing: 0, simulatorCpuPct: 90, simulatorLoopLagP99Ms: 20 }] },
        'Mosquitto + bridge': { sustainedPerS: 30000, steps: [] }
      },
      latency: {
        fleetgate: lat([4], [40], { total: 4.5 }),
        'Mosquitto + bridge': lat([5], [50], { mosquitto: 1.5, bridge: 3.5, total: 5 })
      },
      crash: {
        fleetgate: { targetPerS: 5000, acked: 90000, missing: 0, restartMs: 3000 },
        'Mosquitto + bridge': { targetPerS: 5000, acked: 90000, missing: 1500, restartMs: 1000 }
      }
    }
  })
  t.match(md, /\| peer, fleetgate: highest QoS 1 rate held 30 s \(acked >= 97 %, 0 missing\) \| 45000\/s \(50000\/s: 80 % acked, 0 missing; simulator CPU 90 %, loop p99 20 ms\) \| Mosquitto \+ bridge: 30000\/s \| 1\.50 \| >= 1\.5 x the peer \| met \|/)
  t.match(md, /PUBACK p99 at 20,000\/s, 1 alternated pair\(s\) \(median; each run\) \| 40 ms \(40\), acked 19990\/s \| Mosquitto \+ bridge: 50 ms \(50\), acked 19990\/s \| 0\.80 \| <= the peer \| met \|/)
  t.match(md, /CPU s per 100,000 readings at 20,000\/s \(median\) \| 4\.5 s \| Mosquitto \+ bridge: 5 s \(Mosquitto 1\.5 \+ bridge 3\.5\) \| 0\.90 \|/)
  t.match(md, /kill -9 at 5000\/s \(gateway; bridge\), acknowledged but missing in QuestDB \| 0 of 90000 \(restart 3000 ms\) \| Mosquitto \+ bridge: 1500 of 90000 \(restart 1000 ms\) \| {2}\| 0 missing \| met \|/)
})
