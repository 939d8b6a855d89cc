import t from 'tap'
import { readFileSync } from 'node:fs'
import { NODE_FLAGS } from '../bin/node-flags.js'

// Node reads heap flags only on its command line, so each way of starting
// fleetgate must carry them.
const read = (path: string): string => readFileSync(new URL('../' + path, import.meta.url), 'utf8')
const flags = NODE_FLAGS.join(' ')

t.test('package.json starts every command with the flags', async t => {
  const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  for (const cmd of ['start', 'gateway', 'api', 'simulate']) t.equal(scripts[cmd], `tsx ${flags} bin/cli.ts ${cmd}`, cmd)
})

t.test('bin/fleetgate.js runs node with the flags', async t => {
  t.equal(read('bin/fleetgate.js').split('\n')[0], `#!/usr/bin/env -S node ${flags}`)
})

t.test('the Docker image starts with the flags', async t => {
  t.match(read('Dockerfile'), `CMD ["node", ${NODE_FLAGS.map(f => JSON.stringify(f)).join(', ')}, "bin/fleetgate.js", "start"]`)
})

t.test("the benchmarks' gateway and api children get the flags", async t => {
  const processes = read('benchmarks/harness/processes.ts')
  t.match(processes, 'spawn(process.execPath, [...NODE_FLAGS, ...args]', 'every fleetgate child through one launcher with the flags')
  t.match(processes, "spawnFleetgate(cleanup, [...nodeArgs, '--import', 'tsx', 'bin/cli.ts', 'start']", 'fleetgate start')
  t.match(processes, "spawnFleetgate(cleanup, ['--import', 'tsx', 'bin/cli.ts', cmd]", 'fleetgate gateway and api alone')
  t.match(read('benchmarks/live.bench.ts'), "execArgv: [...NODE_FLAGS, '--import', 'tsx']")
})
