// Thin CLI over simulate(): parse args, show progress, print the report, exit code.
import { parseArgs } from 'node:util'
import { existsSync, readFileSync } from 'node:fs'
import { gatewayAddressFile } from '../../schemas/config.js'
import { simulate, vehicleIds, type FaultRates, type LoadShape, type OfflineOptions, type Report } from './simulate.js'
import { obtainTokens } from './tokens.js'
import { loadNetworkFile, type CityBox } from './roads.js'
import { resolvePgUrl, verify, type VerifyResult } from './verify.js'

/**
 * The gateway's MQTT URL, found the way --verify finds QuestDB: --url,
 * GATEWAY_MQTT_URL, MQTT_PORT on this machine, the running gateway's
 * DATA_DIR/gateway/addresses.json, else the default port.
 */
export function resolveMqttUrl (explicit: string | undefined, dataDir: string, env: Record<string, string | undefined> = process.env): string {
  if (explicit) return explicit
  if (env.GATEWAY_MQTT_URL) return env.GATEWAY_MQTT_URL
  const port = Number(env.MQTT_PORT)
  if (env.MQTT_PORT && Number.isInteger(port) && port > 0) return `mqtt://127.0.0.1:${port}`
  const file = gatewayAddressFile(dataDir)
  if (existsSync(file)) {
    try {
      const a = JSON.parse(readFileSync(file, 'utf8')) as { mqtt?: string }
      if (a.mqtt) return a.mqtt
    } catch {}
  }
  return 'mqtt://127.0.0.1:1883'
}

const HELP = new URL('../help.txt', import.meta.url)

export function formatReport (r: Report, v?: VerifyResult): string {
  const f = r.faults
  const rows: Array<[string, string]> = [
    ['vehicles (connected, failed)', `${r.vehicles} (${r.connected}, ${r.connectFailures})`],
    ['transport, qos, window, shape', `${r.transport}, ${r.qos}, ${r.window}, ${r.shape}`],
    ['readings sent', String(r.sent)],
    ['acknowledged', String(r.acked)],
    ['unacknowledged', String(r.unacked)],
    ['errors', String(r.errors)],
    ['rejected on purpose', `${r.rejectedOnPurpose} (invalid_json ${f.invalid_json}, schema ${f.schema}, future_ts ${f.future_ts}, id_mismatch ${f.id_mismatch})`],
    ['duplicates, wrong tokens (refused)', `${f.duplicate}, ${f.wrong_token} (${r.wrongTokenRefused})`],
    ['offline spells, buffered, batches', `${r.offline.spells}, ${r.offline.bufferedReadings}, ${r.offline.batches}`],
    ['duration', `${r.durationS} s`],
    ['rate (sent, acked)', `${r.ratePerS}/s, ${r.ackRatePerS}/s`],
    [r.warmupS > 0 ? `PUBACK latency p50/p90/p99/max (after ${r.warmupS} s)` : 'PUBACK latency p50/p90/p99/max', `${r.pubackMs.p50} / ${r.pubackMs.p90} / ${r.pubackMs.p99} / ${r.pubackMs.max} ms`],
    ['own event-loop delay p50/p99/max', `${r.loopLagMs.p50} / ${r.loopLagMs.p99} / ${r.loopLagMs.max} ms (included in the latencies above)`],
    ['connect p50/p90/p99/max', `${r.connectMs.p50} / ${r.connectMs.p90} / ${r.connectMs.p99} / ${r.connectMs.max} ms (reconnects ${r.reconnects})`]
  ]
  if (v) {
    rows.push(['verify', v.ok ? 'OK' : 'FAILED'])
    rows.push(['  expected, found in QuestDB', `${v.expected}, ${v.found}`])
    rows.push(['  missing, duplicated, unexpected', `${v.missing}, ${v.duplicated}, ${v.unexpected}`])
    for (const [reason, x] of Object.entries(v.rejections)) rows.push([`  rejections ${reason}`, `${x.found} of ${x.expected}`])
    for (const m of v.missingExamples) rows.push(['  missing', `${m.vehicle_id} @ ${m.ts}`])
  }
  const w = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n')
}

export function reportJson (r: Report, v?: VerifyResult): Record<string, unknown> {
  const { ledger: _omit, ...rest } = r
  return v ? { ...rest, verify: v } : rest
}

class UsageError extends Error {}

function num (name: string, value: string | undefined, check: (x: number) => boolean): number {
  const x = Number(value)
  if (value === undefined || !Number.isFinite(x) || !check(x)) throw new UsageError(`--${name}: bad value ${JSON.stringify(value)}`)
  return x
}

const FAULT_KEYS: Record<string, keyof FaultRates> = { malformed: 'malformed', schema: 'schema', duplicate: 'duplicate', future: 'future', foreign: 'foreignTopic', 'wrong-token': 'wrongToken' }

export function parseFaults (spec: string): FaultRates {
  const out: FaultRates = {}
  for (const part of spec.split(',').filter(Boolean)) {
    const [k, v] = part.split('=')
    const key = FAULT_KEYS[k ?? '']
    if (!key) throw new UsageError(`--faults: unknown fault ${JSON.stringify(k)} (one of ${Object.keys(FAULT_KEYS).join(', ')})`)
    out[key] = num('faults', v, x => x >= 0 && x <= 1)
  }
  const total = (out.malformed ?? 0) + (out.schema ?? 0) + (out.future ?? 0) + (out.foreignTopic ?? 0)
  if (total > 1) throw new UsageError('--faults: malformed + schema + future + foreign must not exceed 1')
  return out
}

export async function main (argv: string[]): Promise<number> {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        vehicles: { type: 'string', default: '10' },
        hz: { type: 'string', default: '1' },
        'parked-interval': { type: 'string', default: '30' },
        duration: { type: 'string', default: '30' },
        warmup: { type: 'string', default: '0' },
        qos: { type: 'string', default: '1' },
        window: { type: 'string', default: '1' },
        seed: { type: 'string', default: '1' },
        prefix: { type: 'string', default: 'sim-' },
        shape: { type: 'string', default: 'steady' },
        'ramp-from': { type: 'string', default: '0.1' },
        burst: { type: 'string', default: '10,2,5' },
        'connect-spread': { type: 'string' },
        city: { type: 'string' },
        roads: { type: 'string' },
        faults: { type: 'string', default: '' },
        offline: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        'data-dir': { type: 'string', default: process.env.DATA_DIR ?? './data' },
        verify: { type: 'boolean', default: false },
        'pg-url': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${readFileSync(HELP, 'utf8')}`)
    return 2
  }
  if (values.help) { process.stdout.write(readFileSync(HELP, 'utf8')); return 0 }
  let opts
  try {
    const vehicles = num('vehicles', values.vehicles, x => Number.isInteger(x) && x > 0)
    const qos = num('qos', values.qos, x => x === 0 || x === 1) as 0 | 1
    let shape: LoadShape
    let connectSpreadS = values['connect-spread'] === undefined ? undefined : num('connect-spread', values['connect-spread'], x => x >= 0)
    switch (values.shape) {
      case 'steady': shape = { kind: 'steady' }; break
      case 'storm': shape = { kind: 'steady' }; connectSpreadS ??= 1; break
      case 'ramp': shape = { kind: 'ramp', fromFraction: num('ramp-from', values['ramp-from'], x => x >= 0 && x <= 1) }; break
      case 'burst': {
        const [everyS, lengthS, factor] = values.burst.split(',')
        shape = { kind: 'burst', everyS: num('burst', everyS, x => x > 0), lengthS: num('burst', lengthS, x => x >= 0), factor: num('burst', factor, x => x > 0) }
        break
      }
      default: throw new UsageError('--shape must be steady, ramp, burst or storm')
    }
    let city: CityBox | undefined
    if (values.city) {
      const [minLon, minLat, maxLon, maxLat] = values.city.split(',').map(Number) as [number, number, number, number]
      if (![minLon, minLat, maxLon, maxLat].every(Number.isFinite) || minLon >= maxLon || minLat >= maxLat) throw new UsageError('--city must be minLon,minLat,maxLon,maxLat')
      city = { minLon, minLat, maxLon, maxLat }
    }
    let offline: OfflineOptions | undefined
    if (values.offline) {
      const [perHour, minS, maxS] = values.offline.split(',')
      offline = { perHour: num('offline', perHour, x => x >= 0), minS: num('offline', minS ?? '5', x => x >= 0), maxS: num('offline', maxS ?? '30', x => x >= 0) }
      if (offline.maxS < offline.minS) throw new UsageError('--offline: max below min')
    }
    opts = {
      url: resolveMqttUrl(values.url, values['data-dir']),
      vehicles,
      hz: num('hz', values.hz, x => x > 0),
      parkedIntervalS: num('parked-interval', values['parked-interval'], x => x > 0),
      durationS: num('duration', values.duration, x => x > 0),
      warmupS: num('warmup', values.warmup, x => x >= 0),
      qos,
      window: num('window', values.window, x => Number.isInteger(x) && x >= 1 && x <= 65535),
      seed: num('seed', values.seed, Number.isInteger),
      prefix: values.prefix,
      shape,
      ...(connectSpreadS !== undefined ? { connectSpreadS } : {}),
      ...(city ? { city } : {}),
      ...(values.roads ? { network: loadNetworkFile(values.roads) } : {}),
      faults: parseFaults(values.faults),
      ...(offline ? { offline } : {}),
      rejectUnauthorized: !values.insecure
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  const findPgUrl = (): string | null => resolvePgUrl(values['pg-url'], values['data-dir'])
  if (values.verify && !findPgUrl()) {
    process.stderr.write('--verify needs QuestDB: --pg-url, QUESTDB_PG_URL, or DATA_DIR/questdb/addresses.json of a managed QuestDB\n')
    return 2
  }
  const ids = vehicleIds(opts.vehicles, values.prefix)
  const tokens = obtainTokens(values['data-dir'], ids)
  const ac = new AbortController()
  process.once('SIGINT', () => ac.abort())
  const tty = process.stderr.isTTY === true
  const report = await simulate({
    ...opts,
    tokens,
    onProgress: p => {
      const line = `t=${p.elapsedS.toFixed(0)}s connected=${p.connected} rate=${p.ratePerS.toFixed(0)}/s sent=${p.sent} acked=${p.acked} inflight=${p.inflight} errors=${p.errors}`
      process.stderr.write(tty ? `\r${line}\x1b[K` : line + '\n')
    }
  }, { signal: ac.signal })
  if (tty) process.stderr.write('\n')
  // looked up again at verify time: a gateway restarted meanwhile may have rewritten it
  let verifyError: Error | undefined
  const v = values.verify ? await verify(report.ledger, findPgUrl).catch((err: Error) => { verifyError = err; return undefined }) : undefined
  if (values.json) process.stdout.write(JSON.stringify(reportJson(report, v), null, 2) + '\n')
  else process.stdout.write(formatReport(report, v) + '\n')
  // the report is printed whatever happened to --verify
  if (verifyError) process.stderr.write(`--verify failed: ${verifyError.message}\n`)
  const clean = report.unacked === 0 && report.errors === 0 && report.connectFailures === 0
  return clean && !verifyError && (v === undefined || v.ok) ? 0 : 1
}
