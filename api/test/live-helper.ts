// Real WebSocket clients of the live feed and real MQTT vehicles for the
// live-feed tests; everything opened here is closed by t.teardown.
import WebSocket from 'ws'
import mqtt, { type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { pino } from 'pino'
import type { Position, LiveEvent, LiveStatus } from '../../schemas/live.js'
import { vehicleTopic } from '../../schemas/topics.js'
import { runApi, type ApiDeps, type RunningApi } from '../src/main.js'
import { issueTokens, pollUntil, type Stack } from '../../test/helper.js'

export interface LiveMsg { type: string, positions?: Position[], event?: LiveEvent, status?: LiveStatus, detail?: string, code?: string }

export interface LiveConn {
  ws: WebSocket
  messages: LiveMsg[]
  /** Every position received (snapshots excluded). */
  positions: Position[]
  closed: Promise<{ code: number, reason: string }>
  send: (obj: unknown) => void
  /** Resolves with the first message from index `from` on that satisfies pred. */
  next: (pred: (m: LiveMsg) => boolean, what?: string, from?: number, timeoutMs?: number) => Promise<LiveMsg>
  /** Round trip: once the error reply to a bogus message is here, all sent before it is too. */
  barrier: () => Promise<void>
}

export function wsUrl (httpUrl: string, query = ''): string {
  return httpUrl.replace(/^http/, 'ws') + '/api/v1/live' + query
}

export async function openLive (t: Test, url: string, opts: { headers?: Record<string, string>, protocols?: string[] } = {}): Promise<LiveConn> {
  const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {} })
  t.teardown(() => { ws.terminate() })
  const messages: LiveMsg[] = []
  const positions: Position[] = []
  const waiters = new Set<() => void>()
  ws.on('message', data => {
    const m = JSON.parse(data.toString()) as LiveMsg
    messages.push(m)
    if (m.type === 'positions') positions.push(...(m.positions ?? []))
    for (const w of waiters) w()
  })
  const closed = new Promise<{ code: number, reason: string }>(resolve => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { statusCode: res.statusCode })))
  })
  const conn: LiveConn = {
    ws,
    messages,
    positions,
    closed,
    send: obj => ws.send(JSON.stringify(obj)),
    next (pred, what = 'message', from = 0, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (let i = from; i < messages.length; i++) {
            const m = messages[i] as LiveMsg
            if (pred(m)) { waiters.delete(check as () => void); clearTimeout(timer); resolve(m); return true }
          }
          return false
        }
        const timer = setTimeout(() => { waiters.delete(check as () => void); reject(new Error(`timed out waiting for ${what}`)) }, timeoutMs)
        if (!check()) waiters.add(check as () => void)
      })
    },
    async barrier () {
      const from = messages.length
      conn.send({ type: 'barrier' })
      await conn.next(m => m.type === 'error', 'barrier', from)
    }
  }
  return conn
}

/** Subscribes and returns the snapshot that answers it. */
export async function subscribe (c: LiveConn, sub: Record<string, unknown>): Promise<Position[]> {
  const from = c.messages.length
  c.send({ type: 'subscribe', ...sub })
  const m = await c.next(x => x.type === 'snapshot' || x.type === 'error', 'snapshot', from)
  if (m.type === 'error') throw new Error(m.detail)
  return m.positions ?? []
}

export interface Fleet { publish: (id: string, readings: object | object[], kind?: 'telemetry' | 'events') => Promise<void> }

/** Connected vehicles with device tokens. */
export async function connectFleet (t: Test, stack: Stack, ids: string[]): Promise<Fleet> {
  const tokens = issueTokens(stack.config.DATA_DIR, ids)
  const clients = new Map<string, MqttClient>()
  await Promise.all(ids.map(async id => {
    clients.set(id, await mqtt.connectAsync(stack.mqttUrl, { clientId: id, username: id, password: tokens.get(id), protocolVersion: 4 }))
  }))
  t.teardown(() => Promise.all([...clients.values()].map(c => c.endAsync(true))))
  return {
    async publish (id, readings, kind = 'telemetry') {
      await (clients.get(id) as MqttClient).publishAsync(vehicleTopic(id, kind), JSON.stringify(readings), { qos: 1 })
    }
  }
}

/** Another api instance over the stack's gateway: on its in-process bus, or (viaBroker) through MQTT like a separate process. */
export async function startApi (t: Test, stack: Stack, deps: Pick<ApiDeps, 'liveFeed'> & { viaBroker?: boolean } = {}): Promise<RunningApi> {
  const config = { ...stack.config, GATEWAY_MQTT_URL: stack.mqttUrl }
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
  const api = await runApi(config, log, {
    questdb: stack.gw.questdb,
    ...(deps.viaBroker ? {} : { live: stack.gw.gateway.live }),
    ...(deps.liveFeed ? { liveFeed: deps.liveFeed } : {})
  })
  t.teardown(() => api.close())
  if (deps.viaBroker) {
    await pollUntil(async () => (await fetch(api.url + '/readyz')).status === 200, 15000, 'api follows the broker')
  }
  return api
}

export function reading (seq: number, lat: number, lon: number, tsMs = Date.now() - 60000 + seq): Record<string, unknown> {
  return { ts: new Date(tsMs).toISOString(), seq, lat, lon, speed_kmh: 42.5, heading_deg: 90, alt_m: 1500, fuel_pct: 50, battery_v: 13.8, rpm: 2000, ignition: true }
}

export function ids (ps: Array<{ vehicle_id: string }>): string[] {
  return [...new Set(ps.map(p => p.vehicle_id))].sort()
}
