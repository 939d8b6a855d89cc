// Thin CLI over simulate(): parse args, show progress, print the report, exit code.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { simulate, vehicleIds, type Report } from './simulate.js'
import { obtainTokens } from './tokens.js'

const HELP = new URL('../help.txt', import.meta.url)

export function formatReport (r: Report): string {
  const rows: Array<[string, string]> = [
    ['vehicles (connected)', `${r.vehicles} (${r.connected})`],
    ['sent', String(r.sent)],
    ['acknowledged', String(r.acked)],
    ['unacknowledged', String(r.unacked)],
    ['errors', String(r.errors)],
    ['duration', `${r.durationS} s`],
    ['rate (sent, acked)', `${r.ratePerS}/s, ${r.ackRatePerS}/s`],
    ['PUBACK latency p50/p90/p99/max', `${r.pubackMs.p50} / ${r.pubackMs.p90} / ${r.pubackMs.p99} / ${r.pubackMs.max} ms`],
    ['connect p50/p99/max', `${r.connectMs.p50} / ${r.connectMs.p99} / ${r.connectMs.max} ms`]
  ]
  const w = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')
}

export async function main (argv: string[]): Promise<number> {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        vehicles: { type: 'string', default: '10' },
        hz: { type: 'string', default: '1' },
        duration: { type: 'string', default: '30' },
        qos: { type: 'string', default: '1' },
        seed: { type: 'string', default: '1' },
        prefix: { type: 'string', default: 'sim-' },
        'data-dir': { type: 'string', default: process.env.DATA_DIR ?? './data' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${readFileSync(HELP, 'utf8')}`)
    return 2
  }
  if (values.help) { process.stdout.write(readFileSync(HELP, 'utf8')); return 0 }
  const vehicles = Number(values.vehicles)
  const hz = Number(values.hz)
  const durationS = Number(values.duration)
  const qos = Number(values.qos)
  if (!(Number.isInteger(vehicles) && vehicles > 0) || !(hz > 0) || !(durationS > 0) || (qos !== 0 && qos !== 1)) {
    process.stderr.write('--vehicles must be a positive integer, --hz and --duration positive numbers, --qos 0 or 1\n')
    return 2
  }
  const ids = vehicleIds(vehicles, values.prefix)
  const tokens = obtainTokens(values['data-dir'], ids)
  const ac = new AbortController()
  process.once('SIGINT', () => ac.abort())
  const tty = process.stderr.isTTY === true
  const report = await simulate({
    url: values.url,
    vehicles,
    hz,
    durationS,
    qos: qos as 0 | 1,
    seed: Number(values.seed),
    prefix: values.prefix,
    tokens,
    onProgress: p => {
      const line = `t=${p.elapsedS.toFixed(0)}s connected=${p.connected} sent=${p.sent} acked=${p.acked} inflight=${p.inflight} errors=${p.errors} rate=${p.ratePerS.toFixed(0)}/s`
      process.stderr.write(tty ? `\r${line}\x1b[K` : line + '\n')
    }
  }, { signal: ac.signal })
  if (tty) process.stderr.write('\n')
  if (values.json) {
    const { ackedByVehicle: _omit, ...rest } = report
    process.stdout.write(JSON.stringify(rest, null, 2) + '\n')
  } else process.stdout.write(formatReport(report) + '\n')
  return report.unacked === 0 && report.errors === 0 && report.connectFailures === 0 ? 0 : 1
}
