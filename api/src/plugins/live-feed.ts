// WebSocket live feed at /api/v1/live, filtered on the server.
// Client -> server: {"type":"subscribe","vehicles":["v1"]|"*","bbox":[minLon,minLat,maxLon,maxLat]?,"max_hz":1?}
//                   {"type":"unsubscribe"}
// Server -> client: {"type":"snapshot","positions":[...]} after each subscribe, then
//                   {"type":"positions","positions":[...]} and {"type":"event","event":{...}}.
// Without max_hz every accepted reading is forwarded as it arrives; with
// max_hz the client gets at most one position per vehicle per tick (latest wins).
// A client whose socket buffer stays above the bound is closed with a reason.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import type { LiveSource, Position, LiveMessage } from '../../../schemas/live.js'
import { isVehicleId } from '../../../schemas/topics.js'
import { LATEST_SQL, rowToPosition } from '../readings-sql.js'

export type BBox = [number, number, number, number]

interface Subscription { all: boolean, ids: Set<string>, bbox: BBox | null, maxHz: number }

export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
const HEARTBEAT_MS = 30000

declare module 'fastify' {
  interface FastifyInstance {
    latestPositions: Map<string, Position>
  }
}

export function inBox (p: { lat: number, lon: number }, b: BBox): boolean {
  const [minLon, minLat, maxLon, maxLat] = b
  if (p.lat < minLat || p.lat > maxLat) return false
  // a box whose west edge is east of its east edge crosses the antimeridian
  return minLon <= maxLon ? p.lon >= minLon && p.lon <= maxLon : p.lon >= minLon || p.lon <= maxLon
}

function matches (sub: Subscription, p: { vehicle_id: string, lat?: number, lon?: number }): boolean {
  if (!sub.all && !sub.ids.has(p.vehicle_id)) return false
  if (sub.bbox && (p.lat === undefined || p.lon === undefined || !inBox(p as { lat: number, lon: number }, sub.bbox))) return false
  return true
}

function parseSubscribe (msg: Record<string, unknown>): Subscription | string {
  const v = msg.vehicles
  let all = false
  const ids = new Set<string>()
  if (v === '*') all = true
  else if (Array.isArray(v) && v.length <= 100000 && v.every(isVehicleId)) for (const id of v) ids.add(id)
  else return 'vehicles must be "*" or an array of vehicle ids'
  let bbox: BBox | null = null
  if (msg.bbox !== undefined) {
    const b = msg.bbox
    if (!Array.isArray(b) || b.length !== 4 || !b.every(n => typeof n === 'number' && Number.isFinite(n))) return 'bbox must be [minLon,minLat,maxLon,maxLat]'
    const [minLon, minLat, maxLon, maxLat] = b as BBox
    if (minLat > maxLat || minLat < -90 || maxLat > 90 || minLon < -180 || maxLon > 180 || minLon > 180 || maxLon < -180) return 'bbox out of range: lon in [-180,180], lat in [-90,90], minLat <= maxLat'
    bbox = b as BBox
  }
  const hz = msg.max_hz ?? 0
  if (typeof hz !== 'number' || !(hz >= 0 && hz <= 50)) return 'max_hz must be a number in [0, 50] (0: every reading)'
  return { all, ids, bbox, maxHz: hz }
}

export interface LiveFeedOptions {
  source: LiveSource
  /** Checks a client's API key (header, subprotocol or query token); absent: no check. */
  verifyToken?: (token: string) => boolean | Promise<boolean>
}

export default fp<LiveFeedOptions>(async function liveFeed (fastify, opts) {
  await fastify.register(websocket, { options: { maxPayload: 1024 * 1024 } })
  const latest = new Map<string, Position>()
  fastify.decorate('latestPositions', latest)

  const clients = new Set<LiveClient>()

  class LiveClient {
    sub: Subscription | null = null
    pending = new Map<string, Position>()
    lastTick = 0
    alive = true
    constructor (readonly ws: WebSocket) {}

    send (obj: unknown): void {
      if (this.ws.readyState !== this.ws.OPEN) return
      if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.ws.close(1013, 'client too slow: send buffer over bound')
        return
      }
      this.ws.send(JSON.stringify(obj))
    }

    flush (now: number): void {
      if (!this.sub || this.sub.maxHz === 0 || this.pending.size === 0) return
      if (now - this.lastTick < 1000 / this.sub.maxHz) return
      this.lastTick = now
      const positions = [...this.pending.values()]
      this.pending.clear()
      this.send({ type: 'positions', positions })
    }
  }

  function onLive (msg: LiveMessage): void {
    if (msg.kind === 'telemetry') {
      const items = msg.items
      const newest = items.reduce((a, b) => (b.ts > a.ts ? b : a))
      const prev = latest.get(msg.vehicleId)
      if (!prev || newest.ts >= prev.ts) latest.set(msg.vehicleId, newest)
      for (const c of clients) {
        const sub = c.sub
        if (!sub) continue
        const positions = items.filter(p => matches(sub, p))
        if (positions.length === 0) continue
        if (sub.maxHz === 0) c.send({ type: 'positions', positions })
        else for (const p of positions) c.pending.set(p.vehicle_id, p)
      }
    } else if (msg.kind === 'events') {
      for (const c of clients) {
        const sub = c.sub
        if (!sub || (!sub.all && !sub.ids.has(msg.vehicleId))) continue
        for (const event of msg.items) c.send({ type: 'event', event })
      }
    }
  }

  const unsubscribe = opts.source.subscribe(onLive)
  const ticker = setInterval(() => { const now = Date.now(); for (const c of clients) c.flush(now) }, 20)
  const heartbeat = setInterval(() => {
    for (const c of clients) {
      if (!c.alive) { c.ws.terminate(); continue }
      c.alive = false
      c.ws.ping()
    }
  }, HEARTBEAT_MS)

  try {
    const { rows } = await fastify.questdb.query(LATEST_SQL)
    for (const r of rows) {
      const p = rowToPosition(r)
      const cur = latest.get(p.vehicle_id)
      if (!cur || p.ts > cur.ts) latest.set(p.vehicle_id, p)
    }
  } catch (err) {
    fastify.log.warn({ err }, 'latest positions not seeded')
  }

  fastify.get('/live', { websocket: true }, (socket) => {
    const client = new LiveClient(socket)
    clients.add(client)
    socket.on('pong', () => { client.alive = true })
    socket.on('close', () => { clients.delete(client) })
    socket.on('message', (data) => {
      let msg: Record<string, unknown>
      try { msg = JSON.parse(data.toString()) as Record<string, unknown> } catch {
        client.send({ type: 'error', detail: 'messages must be JSON objects' })
        return
      }
      if (msg.type === 'subscribe') {
        const sub = parseSubscribe(msg)
        if (typeof sub === 'string') { client.send({ type: 'error', detail: sub }); return }
        client.sub = sub
        client.pending.clear()
        const positions = [...latest.values()].filter(p => matches(sub, p))
        client.send({ type: 'snapshot', positions })
      } else if (msg.type === 'unsubscribe') {
        client.sub = null
        client.pending.clear()
      } else {
        client.send({ type: 'error', detail: 'type must be subscribe or unsubscribe' })
      }
    })
  })

  fastify.addHook('onClose', async () => {
    unsubscribe()
    clearInterval(ticker)
    clearInterval(heartbeat)
    for (const c of clients) c.ws.close(1001, 'server shutting down')
  })
}, { name: 'live-feed', dependencies: ['questdb'] })
