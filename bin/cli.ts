// fleetgate <command>: the operators' one CLI.
import { setFlagsFromString } from 'node:v8'
import { loadConfig, ConfigError } from '../schemas/config.js'
import { createLogger } from './logger.js'
import { issueToken, revokeToken } from '../gateway/src/broker/device-registry.js'
import { createApiKey, isRole, ROLES } from '../api/src/api-keys.js'

const USAGE = `usage: fleetgate <command>

  start              QuestDB (managed unless QUESTDB_*_URL are set), gateway and api in one process
  gateway            the gateway alone (MQTT in, QuestDB out)
  api                the api alone (history, live feed via the gateway's broker)
  simulate [opts]    a simulated fleet (fleetgate simulate --help)
  token <vehicleId>  issue (or rotate) a vehicle's device token and print it
  revoke <vehicleId> revoke a vehicle's token; connected sessions are closed
  apikey --role <r>  make an API key with role read, ingest or admin and print it (once)

Configuration comes from environment variables; see README.md.`

type Closer = () => Promise<void>

function onSignals (log: { info: (o: object, m: string) => void, error: (o: object, m: string) => void }, close: Closer): void {
  let closing = false
  const handler = (signal: NodeJS.Signals): void => {
    if (closing) return
    closing = true
    log.info({ signal }, 'shutting down')
    close().then(() => process.exit(0), err => { log.error({ err }, 'shutdown failed'); process.exit(1) })
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

// V8 starts a full GC once the old generation has grown by a factor over
// what survived the last one, and picks that factor itself: up to 4 on a
// machine with much memory. A QoS 1 publish stays referenced until its PUBACK,
// long enough to be promoted, so `fleetgate start` with 10,000 vehicles at
// 10,000/s let ~95 MB of live old generation grow to 250-430 MB, mostly
// garbage, before each mark-compact. V8 reads this flag whenever it computes
// the limit, so setting it after start takes effect (the young generation's
// size, fixed at start, could not be changed this way).
function boundHeapGrowth (percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`)
}

async function run (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === 'simulate') {
    const { main } = await import('../simulator/src/cli.js')
    return await main(rest)
  }
  if (cmd === 'token' || cmd === 'revoke') {
    const id = rest[0]
    if (!id) { process.stderr.write(`usage: fleetgate ${cmd} <vehicleId>\n`); return 2 }
    const config = loadConfig()
    if (cmd === 'token') process.stdout.write(issueToken(config.DATA_DIR, id) + '\n')
    else { revokeToken(config.DATA_DIR, id); process.stdout.write(`revoked ${id}\n`) }
    return 0
  }
  if (cmd === 'apikey') {
    const i = rest.indexOf('--role')
    const role = i >= 0 ? rest[i + 1] : rest.find(a => a.startsWith('--role='))?.slice('--role='.length)
    if (!isRole(role)) { process.stderr.write(`usage: fleetgate apikey --role <${ROLES.join('|')}>\n`); return 2 }
    const config = loadConfig()
    const { id, key } = createApiKey(config.DATA_DIR, role)
    process.stderr.write(`API key ${id} (role ${role}); only its SHA-256 is stored in ${config.DATA_DIR}/api-keys.jsonl. It is shown once:\n`)
    process.stdout.write(key + '\n')
    return 0
  }
  if (cmd !== 'start' && cmd !== 'gateway' && cmd !== 'api') {
    process.stderr.write(USAGE + '\n')
    return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2
  }
  const config = loadConfig()
  boundHeapGrowth(config.V8_HEAP_GROWING_PERCENT)
  const log = createLogger(config.LOG_LEVEL)
  const { runGateway } = await import('../gateway/src/main.js')
  const { runApi, httpTimeouts } = await import('../api/src/main.js')
  if (cmd === 'gateway') {
    const gw = await runGateway(config, log)
    let http: { bound: string, close: () => Promise<void> } | null = null
    if (config.GATEWAY_HTTP_PORT >= 0) {
      const { startGatewayHttp } = await import('../gateway/src/http.js')
      http = await startGatewayHttp({ host: config.HTTP_HOST, port: config.GATEWAY_HTTP_PORT, registry: gw.gateway.metrics.registry, questdb: gw.questdb, brokerReady: () => !gw.gateway.broker.aedes.closed, readiness: gw.gateway.readiness, log, timeouts: httpTimeouts(config) })
    }
    // the small port stays up while the gateway drains, so /readyz answers 503 meanwhile
    onSignals(log, async () => { await gw.close(); await http?.close() })
    log.info({ ...gw.gateway.bound, http: http?.bound }, 'fleetgate gateway up')
  } else if (cmd === 'api') {
    const api = await runApi(config, log)
    onSignals(log, api.close)
    log.info({ http: api.bound }, 'fleetgate api up')
  } else {
    const gw = await runGateway(config, log)
    let api
    try {
      api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, brokerReady: () => !gw.gateway.broker.aedes.closed, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
    } catch (err) {
      await gw.close()
      throw err
    }
    const apiRef = api
    onSignals(log, async () => { await apiRef.close(); await gw.close() })
    // the addresses bound, not the loopback URLs derived from a wildcard
    log.info({ http: api.bound, live: api.bound.map(u => u.replace(/^http/, 'ws') + '/api/v1/live'), ...gw.gateway.bound, questdb: gw.questdb.httpUrl }, 'fleetgate up')
  }
  return -1
}

run(process.argv.slice(2)).then(code => { if (code >= 0) process.exitCode = code }, err => {
  if (err instanceof ConfigError) process.stderr.write(err.message + '\n')
  else process.stderr.write(String((err as Error)?.stack ?? err) + '\n')
  process.exit(1)
})
