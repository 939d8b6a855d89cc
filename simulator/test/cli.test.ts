// The simulator as users run it (`fleetgate simulate`, a child process): it
// finds the gateway through the gateway's DATA_DIR when no --url, MQTT_PORT or
// GATEWAY_MQTT_URL is given, and prints its report even when --verify fails.
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startQuestDbForTest, startStack } from '../../test/helper.js'

const CLI = fileURLToPath(new URL('../../bin/cli.ts', import.meta.url))

interface Run { code: number, stdout: string, stderr: string }

async function simulateCli (args: string[]): Promise<Run> {
  const env = { ...process.env }
  for (const k of ['MQTT_PORT', 'GATEWAY_MQTT_URL', 'QUESTDB_PG_URL', 'DATA_DIR']) delete env[k]
  return await new Promise<Run>(resolve => {
    execFile(process.execPath, ['--import', 'tsx', CLI, 'simulate', ...args], { env, timeout: 240000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

t.test('simulate finds the gateway in its DATA_DIR; a failed --verify still prints the report', async t => {
  const db = await startQuestDbForTest(t)
  const s = await startStack(t, db, { API_AUTH: 'required' })
  const common = ['--data-dir', s.config.DATA_DIR, '--vehicles', '2', '--hz', '5', '--duration', '1']

  const ok = await simulateCli([...common, '--verify', '--pg-url', db.pgUrl])
  t.equal(ok.code, 0, 'exit 0')
  t.match(ok.stdout, /^vehicles \(connected, failed\)\s+2 \(2, 0\)$/m, 'connected to the gateway on its free port (MQTT_PORT=0), found in DATA_DIR')
  t.match(ok.stdout, /^verify\s+OK$/m)

  const refused = await simulateCli([...common, '--seed', '2', '--verify', '--pg-url', db.pgUrl.replace('admin:quest@', 'admin:wrong@')])
  t.equal(refused.code, 1, 'exit 1')
  t.match(refused.stdout, /^acknowledged\s+\d+$/m, 'the report is printed')
  t.match(refused.stderr, /^--verify failed: /m, 'with why verify failed')
})
