// Builds the real parts for tests on free ports and tears down where it
// started (STYLE.md habit 6): a managed QuestDB, the gateway, the api.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import type { Test } from 'tap'
import { loadConfig, type Config } from '../schemas/config.js'
import { startQuestDb, type ManagedQuestDb } from '../lib/questdb/managed.js'
import { runGateway, type RunningGateway } from '../gateway/src/index.js'
import { runApi, type RunningApi } from '../api/src/main.js'
import { issueToken } from '../gateway/src/index.js'
import { count, pollUntil, waitWalApplied } from '../lib/questdb/sql.js'

export { query, count, pollUntil, waitWalApplied } from '../lib/questdb/sql.js'

type T = Test

export function quietLogger (): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
}

/** Keeps the event loop in the current turn for `ms` (a turn made long on purpose). */
export function busy (ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until);
}

export function tempDir (t: T, prefix = 'fleetgate-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function startQuestDbForTest (t: T, root?: string): Promise<ManagedQuestDb> {
  const db = await startQuestDb({ root: root ?? join(tempDir(t, 'fleetgate-qdb-'), 'root') })
  t.teardown(() => db.stop())
  return db
}

export function testConfig (dataDir: string, db: { httpUrl: string, pgUrl: string }, overrides: Partial<Config> = {}): Config {
  return loadConfig({}, {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: 0,
    MQTT_WS_PORT: 0,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: 0,
    DATA_DIR: dataDir,
    QUESTDB_HTTP_URL: db.httpUrl,
    QUESTDB_PG_URL: db.pgUrl,
    LOG_LEVEL: 'silent',
    ILP_FLUSH_INTERVAL_MS: 20,
    // tests of the ingestion path talk to the api without keys; the api's own tests turn auth on
    API_AUTH: 'off',
    ...overrides
  })
}

export interface Stack {
  config: Config
  gw: RunningGateway
  api: RunningApi
  mqttUrl: string
  httpUrl: string
  pgUrl: string
  questdbHttpUrl: string
}

/** Gateway and api in one process (the live stream on the in-process bus). */
export async function startStack (t: T, db: { httpUrl: string, pgUrl: string }, overrides: Partial<Config> = {}): Promise<Stack> {
  const config = testConfig(tempDir(t), db, overrides)
  const log = quietLogger()
  const gw = await runGateway(config, log)
  t.teardown(() => gw.close())
  const api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
  t.teardown(() => api.close())
  return { config, gw, api, mqttUrl: gw.gateway.addresses.mqtt, httpUrl: api.url, pgUrl: db.pgUrl, questdbHttpUrl: db.httpUrl }
}

export function issueTokens (dataDir: string, ids: string[]): Map<string, string> {
  return new Map(ids.map(id => [id, issueToken(dataDir, id)]))
}

/** Polls until the count reaches want, then counts again once the WAL is fully applied (so late duplicates would show). */
export async function pollCount (pgUrl: string, text: string, want: number, timeoutMs = 60000, params: unknown[] = []): Promise<number> {
  let n = -1
  await pollUntil(async () => { n = await count(pgUrl, text, params); return n >= want }, timeoutMs, `${want} rows from ${text}`).catch(() => {})
  await waitWalApplied(pgUrl, timeoutMs).catch(() => {})
  return await count(pgUrl, text, params)
}

/** Real MQTT clients for vehicles, ended at teardown. */
export async function connectVehicles (t: T, url: string, tokens: Map<string, string>, extra: Partial<import('mqtt').IClientOptions> = {}): Promise<import('mqtt').MqttClient[]> {
  const mqtt = (await import('mqtt')).default
  const clients = await Promise.all([...tokens].map(([id, token]) => mqtt.connectAsync(url, { clientId: id, username: id, password: token, protocolVersion: 4, reconnectPeriod: 0, ...extra })))
  t.teardown(() => Promise.all(clients.map(c => c.endAsync(true).catch(() => {}))))
  return clients
}

/** Rows of readings that share (vehicle_id, ts): must be none. */
export async function duplicateReadings (pgUrl: string): Promise<number> {
  const total = await count(pgUrl, 'SELECT count() n FROM readings')
  const distinct = await count(pgUrl, 'SELECT count() n FROM (SELECT DISTINCT vehicle_id, ts FROM readings)')
  return total - distinct
}
