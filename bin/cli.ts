// fleetgate <command>: the operators' one CLI.
import { setFlagsFromString } from 'node:v8'
import { loadConfig, nodeId, ConfigError, type Config } from '../schemas/config.js'
import { isVehicleId } from '../schemas/topics.js'
import { createLogger } from './logger.js'
import { hasActiveToken, issueToken, listDevices, revokeToken } from '../gateway/src/index.js'
import { apiKeysFile, createApiKey, isRole, listApiKeys, revokeApiKey, rotateApiKey, ROLES } from '../api/src/api-keys.js'

const USAGE = `usage: fleetgate <command>

  start              QuestDB (managed unless QUESTDB_*_URL are set), gateway and api in one process
  gateway            the gateway alone (MQTT in, QuestDB out)
  api                the api alone (history, live feed via the gateway's broker)
  simulate [opts]    a simulated fleet (fleetgate simulate --help)
  token <vehicleId>  issue (or rotate) a vehicle's device token and print it
  revoke <vehicleId> revoke a vehicle's token; connected sessions are closed
  devices list [--all|--revoked]
                     vehicles of the device registry (default: those holding a token)
  apikey --role <r> [--name <text>]
                     make an API key with role read, ingest or admin and print it (once)
  apikey list [--all|--revoked]
                     API keys: id, role, name, source, created, revoked (never the keys)
  apikey rotate <id> a new key with the same role and name; the old one is revoked
  apikey revoke <id> revoke an API key

Exit status: 0 done, 1 failed (the reason on one line), 2 wrong usage.
Configuration comes from environment variables; see docs/configuration.md.`

/** A failure the operator can act on: printed as one line, with its exit status. */
class CliError extends Error {
  constructor (message: string, readonly exitCode = 1) { super(message) }
}

const usage = (text: string): CliError => new CliError(`usage: ${text}`, 2)

const VEHICLE_ID_RULE = 'letters, digits, _ and -, 1 to 64 of them'

function vehicleArg (cmd: string, id: string | undefined): string {
  if (!id) throw usage(`fleetgate ${cmd} <vehicleId>`)
  if (!isVehicleId(id)) throw new CliError(`invalid vehicle id ${JSON.stringify(String(id).slice(0, 80))}: ${VEHICLE_ID_RULE}`, 2)
  return id
}

/** --all, --revoked or neither (active only). */
function statusFilter (args: string[], cmd: string): 'active' | 'revoked' | 'all' {
  const extra = args.filter(a => a !== '--all' && a !== '--revoked')
  if (extra.length > 0 || args.length > 1) throw usage(`fleetgate ${cmd} list [--all|--revoked]`)
  return args[0] === '--all' ? 'all' : args[0] === '--revoked' ? 'revoked' : 'active'
}

/** Tab-separated, a header first: for people and for cut/awk alike. */
function printTable (header: string[], rows: Array<Array<string | null>>): void {
  let out = header.join('\t') + '\n'
  for (const r of rows) out += r.map(x => x ?? '-').join('\t') + '\n'
  process.stdout.write(out)
}

function devicesCommand (args: string[]): number {
  if (args[0] !== 'list') throw usage('fleetgate devices list [--all|--revoked]')
  const status = statusFilter(args.slice(1), 'devices')
  const config = loadConfig()
  const all = [...listDevices(config.DATA_DIR).values()].filter(d => status === 'all' || d.status === status).sort((a, b) => a.vehicle_id < b.vehicle_id ? -1 : 1)
  printTable(['vehicle_id', 'status', 'issued_at', 'revoked_at'], all.map(d => [d.vehicle_id, d.status, d.issued_at, d.revoked_at]))
  return 0
}

function apikeyCommand (args: string[]): number {
  const sub = args[0]
  if (sub === 'list') {
    const status = statusFilter(args.slice(1), 'apikey')
    const config = loadConfig()
    const keys = listApiKeys(config.DATA_DIR, config.API_KEYS).filter(k => status === 'all' || (status === 'active') === (k.revoked_at === null))
    printTable(['id', 'role', 'source', 'created', 'revoked_at', 'name'], keys.map(k => [k.id, k.role, k.source, k.created, k.revoked_at, k.name]))
    return 0
  }
  if (sub === 'revoke' || sub === 'rotate') {
    const id = args[1]
    if (!id || args.length > 2) throw usage(`fleetgate apikey ${sub} <id>`)
    if (!/^[0-9a-f]{12}$/.test(id)) throw new CliError(`invalid API key id ${JSON.stringify(id.slice(0, 80))}: 12 hex digits, as \`fleetgate apikey list\` shows`, 2)
    const config = loadConfig()
    if (sub === 'revoke') {
      if (!revokeApiKey(config.DATA_DIR, id, config.API_KEYS)) throw new CliError(`no active API key ${id} (see fleetgate apikey list --all)`)
      process.stdout.write(`revoked API key ${id}\n`)
      return 0
    }
    const made = rotateApiKey(config.DATA_DIR, id, config.API_KEYS)
    if (!made) throw new CliError(`no active API key ${id} (see fleetgate apikey list --all)`)
    process.stderr.write(`API key ${made.id} (role ${made.role}) replaces ${id}, now revoked. It is shown once:\n`)
    process.stdout.write(made.key + '\n')
    return 0
  }
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : args.find(a => a.startsWith(name + '='))?.slice(name.length + 1)
  }
  const role = flag('--role')
  if (!isRole(role)) throw usage(`fleetgate apikey --role <${ROLES.join('|')}> [--name <text>] | list | rotate <id> | revoke <id>`)
  const config = loadConfig()
  let made
  try { made = createApiKey(config.DATA_DIR, role, flag('--name') ?? '') } catch (err) { throw new CliError((err as Error).message, 2) }
  process.stderr.write(`API key ${made.id} (role ${role}); only its SHA-256 is stored in ${apiKeysFile(config.DATA_DIR)}. It is shown once:\n`)
  process.stdout.write(made.key + '\n')
  return 0
}

const PORT_VARIABLES = ['MQTT_PORT', 'MQTT_WS_PORT', 'MQTT_TLS_PORT', 'HTTP_PORT', 'GATEWAY_HTTP_PORT'] as const

/** A listen failure as one line naming the variable that chose the port. */
function explainStartError (err: unknown, config: Config): unknown {
  const e = err as NodeJS.ErrnoException & { port?: number, address?: string }
  if (e?.code !== 'EADDRINUSE' && e?.code !== 'EACCES' && e?.code !== 'EADDRNOTAVAIL') return err
  const vars = PORT_VARIABLES.filter(v => e.port !== undefined && config[v] === e.port)
  const where = `${e.address ?? '?'}:${e.port ?? '?'}${vars.length ? ` (${vars.join(' or ')})` : ''}`
  if (e.code === 'EADDRINUSE') return new CliError(`${where} is already in use: another fleetgate or MQTT broker runs there? stop it, or set ${vars[0] ?? 'the port variables'} to a free port (0: any free port)`)
  if (e.code === 'EACCES') return new CliError(`${where}: permission denied (ports below 1024 need privileges); set ${vars[0] ?? 'the port variables'} to 1024 or above`)
  return new CliError(`${where}: no such address on this machine; check MQTT_HOST and HTTP_HOST`)
}

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
// long enough to be promoted, so under a fleet's load the old generation grows
// to several times what is live, mostly garbage, before each mark-compact
// (npm run bench -- memory shows it per phase). V8 reads this flag whenever it computes
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
  if (cmd === 'token') {
    const id = vehicleArg(cmd, rest[0])
    const config = loadConfig()
    process.stdout.write(issueToken(config.DATA_DIR, id) + '\n')
    return 0
  }
  if (cmd === 'revoke') {
    const id = vehicleArg(cmd, rest[0])
    const config = loadConfig()
    if (!hasActiveToken(config.DATA_DIR, id)) throw new CliError(`vehicle ${id} holds no token (never issued, or already revoked); nothing changed`)
    revokeToken(config.DATA_DIR, id)
    process.stdout.write(`revoked ${id}\n`)
    return 0
  }
  if (cmd === 'devices') return devicesCommand(rest)
  if (cmd === 'apikey') return apikeyCommand(rest)
  if (cmd !== 'start' && cmd !== 'gateway' && cmd !== 'api') {
    process.stderr.write(USAGE + '\n')
    return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2
  }
  const config = loadConfig()
  try {
    return await startCommand(cmd, config)
  } catch (err) {
    throw explainStartError(err, config)
  }
}

async function startCommand (cmd: 'start' | 'gateway' | 'api', config: Config): Promise<number> {
  boundHeapGrowth(config.V8_HEAP_GROWING_PERCENT)
  const log = createLogger(config.LOG_LEVEL, nodeId(config))
  const { isGatewayWorker, runGatewayWorker } = await import('../gateway/src/index.js')
  if (isGatewayWorker()) {
    await runGatewayWorker(config, log)
    return -1
  }
  const { runGateway } = await import('../gateway/src/index.js')
  const { runApi, httpTimeouts } = await import('../api/src/main.js')
  if (cmd === 'gateway') {
    const gw = await runGateway(config, log)
    let http: { bound: string, close: () => Promise<void> } | null = null
    if (config.GATEWAY_HTTP_PORT >= 0) {
      const { startGatewayHttp } = await import('../gateway/src/index.js')
      try {
        http = await startGatewayHttp({ host: config.HTTP_HOST, port: config.GATEWAY_HTTP_PORT, registry: gw.gateway.metrics.registry, questdb: gw.questdb, brokerReady: () => !gw.gateway.broker.aedes.closed, readiness: gw.gateway.readiness, log, timeouts: httpTimeouts(config), ...(config.REDIS_URL ? { defaultLabels: { node: nodeId(config) } } : {}) })
      } catch (err) {
        await gw.close()
        throw err
      }
    }
    // the small port stays up while the gateway drains, so /readyz answers 503 meanwhile
    onSignals(log, async () => { await gw.close(); await http?.close() })
    log.info({ ...gw.gateway.bound, http: http?.bound }, 'fleetgate gateway up')
  } else if (cmd === 'api') {
    const api = await runApi(config, log)
    onSignals(log, api.close)
    log.info({ http: api.bound }, 'fleetgate api up')
  } else if (config.GATEWAY_WORKERS > 0) {
    // the gateway as worker processes behind the same ports, the api here
    const { ensureQuestDb } = await import('../gateway/src/index.js')
    const { startGatewayWorkers } = await import('../gateway/src/index.js')
    const qdb = await ensureQuestDb(config, log)
    const workers = await startGatewayWorkers(config, log, qdb, config.GATEWAY_WORKERS).catch(async (err: unknown) => { await qdb.managed?.stop(); throw err })
    let api
    try {
      // with REDIS_URL the api follows every node's stream from Redis, where the primary relays this node's
      api = await runApi(config, log, { questdb: qdb, ...(config.REDIS_URL ? {} : { live: workers.live }), brokerReady: workers.ready, registries: [workers.registry], remoteMetrics: workers.metrics })
    } catch (err) {
      await workers.close()
      await qdb.managed?.stop()
      throw err
    }
    const apiRef = api
    onSignals(log, async () => { await apiRef.close(); await workers.close(); await qdb.managed?.stop() })
    log.info({ http: api.url, live: api.url.replace(/^http/, 'ws') + '/api/v1/live', ...workers.addresses, workers: config.GATEWAY_WORKERS, questdb: qdb.httpUrl }, 'fleetgate up')
  } else {
    const gw = await runGateway(config, log)
    let api
    try {
      // with REDIS_URL the api follows every node's stream from Redis, this one's included
      api = await runApi(config, log, { questdb: gw.questdb, ...(config.REDIS_URL ? {} : { live: gw.gateway.live }), brokerReady: () => !gw.gateway.broker.aedes.closed, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
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

run(process.argv.slice(2)).then(code => { if (code >= 0) process.exitCode = code }, (err: unknown) => {
  // one line for the operator; the stack only when asked for (LOG_LEVEL=debug)
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`fleetgate: ${message.split('\n')[0] ?? ''}\n`)
  const known = err instanceof CliError || err instanceof ConfigError
  if (!known && /^(debug|trace)$/.test(process.env.LOG_LEVEL ?? '')) process.stderr.write(String((err as Error)?.stack) + '\n')
  process.exit(err instanceof CliError ? err.exitCode : 1)
})
