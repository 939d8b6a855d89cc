// The live feed's socket, off the main thread: a map of 10,000 vehicles gets
// a couple of megabytes of JSON a second, and parsing it (and collecting the
// garbage) on the main thread shows as long tasks. The worker parses, keeps
// the latest full position per vehicle, and hands the page columns of numbers
// (one transferable Float64Array per batch).
// The key, when there is one, goes as the subprotocol `bearer.<key>` beside
// `fleetgate.v1`, never in the URL, which servers and proxies log.
import { mercator, STRIDE } from './position-columns.js'

let ws = null
let url = ''
let key = ''
let sub = null
let backoffMs = 1000
let retry = 0
let watched = null
const latest = new Map()
const stats = { messages: 0, bytes: 0, positions: 0, subscribes: 0, connects: 0, parseMsMax: 0, handleMsMax: 0 }
// what arrived since the snapshot that answered the last subscribe (frames
// already on the wire before it still carry the old filter): the server
// filters, this shows that it did
let since = { positions: 0, outside: 0, ids: new Set() }

function inBox (p, b) {
  if (!b) return true
  if (p.lat < b[1] || p.lat > b[3]) return false
  return b[0] <= b[2] ? p.lon >= b[0] && p.lon <= b[2] : p.lon >= b[0] || p.lon <= b[2]
}

function post (msg, transfer) { self.postMessage(msg, transfer ?? []) }

function send (s) {
  stats.subscribes++
  ws.send(JSON.stringify(s))
  post({ type: 'subscribed', sub: s, at: Date.now() })
}

function batch (kind, positions) {
  const ids = []
  const num = new Float64Array(positions.length * STRIDE)
  let n = 0
  let full = null
  if (kind === 'snapshot') since = { positions: 0, outside: 0, ids: new Set() }
  for (const p of positions) {
    if (typeof p.lat !== 'number' || typeof p.lon !== 'number') continue
    since.positions++
    since.ids.add(p.vehicle_id)
    if (!inBox(p, sub?.bbox)) since.outside++
    const tsMs = Date.parse(p.ts)
    const prev = latest.get(p.vehicle_id)
    if (prev && prev.tsMs > tsMs) continue
    latest.set(p.vehicle_id, { p, tsMs })
    const m = mercator(p.lat, p.lon)
    const o = n * STRIDE
    num[o] = p.lat
    num[o + 1] = p.lon
    num[o + 2] = m[0]
    num[o + 3] = m[1]
    num[o + 4] = tsMs
    num[o + 5] = p.speed_kmh ?? NaN
    num[o + 6] = p.heading_deg ?? NaN
    num[o + 7] = p.engine_temp_c ?? NaN
    ids.push(p.vehicle_id)
    if (p.vehicle_id === watched) full = p
    n++
  }
  const cols = num.subarray(0, n * STRIDE).slice()
  const sinceSubscribe = { positions: since.positions, outside: since.outside, vehicles: since.ids.size }
  post({ type: 'batch', kind, ids, num: cols, full, stats: { ...stats, sinceSubscribe } }, [cols.buffer])
}

function connect () {
  // the server selects fleetgate.v1 and never echoes the key; a browser fails
  // a handshake whose offered subprotocols got no answer [RFC 6455 4.1]
  const socket = key ? new WebSocket(url, ['fleetgate.v1', `bearer.${key}`]) : new WebSocket(url)
  ws = socket
  post({ type: 'state', state: 'connecting' })
  socket.onopen = () => {
    backoffMs = 1000
    stats.connects++
    post({ type: 'state', state: 'live' })
    if (sub) send(sub)
  }
  socket.onmessage = (e) => {
    const text = typeof e.data === 'string' ? e.data : ''
    stats.messages++
    stats.bytes += text.length
    const t0 = performance.now()
    let msg
    try { msg = JSON.parse(text) } catch { return }
    const t1 = performance.now()
    stats.parseMsMax = Math.max(stats.parseMsMax, t1 - t0)
    if (msg.type === 'positions' || msg.type === 'snapshot') {
      stats.positions += msg.positions.length
      batch(msg.type, msg.positions)
    } else if (msg.type === 'event') {
      post({ type: 'event', event: msg.event })
    } else if (msg.type === 'status') {
      post({ type: 'status', status: msg.status })
    } else if (msg.type === 'error') {
      post({ type: 'state', state: 'error: ' + msg.detail })
    }
    stats.handleMsMax = Math.max(stats.handleMsMax, performance.now() - t1)
  }
  socket.onclose = (e) => {
    if (ws !== socket) return
    ws = null
    post({ type: 'state', state: e.code === 1008 || e.code === 4401 ? 'unauthorized' : 'reconnecting' })
    retry = setTimeout(connect, backoffMs)
    backoffMs = Math.min(backoffMs * 2, 30000)
  }
  // an error is always followed by close, which reconnects; nothing to log
  socket.onerror = () => {}
}

self.onmessage = (e) => {
  const m = e.data
  if (m.type === 'connect') {
    url = m.url
    key = m.key
    // one socket at a time: a retry still pending would open a second one
    clearTimeout(retry)
    backoffMs = 1000
    if (ws) { const old = ws; ws = null; old.close() }
    connect()
  } else if (m.type === 'subscribe') {
    sub = m.sub
    if (ws && ws.readyState === WebSocket.OPEN) send(sub)
  } else if (m.type === 'watch') {
    watched = m.id
    const last = latest.get(m.id)
    if (last) post({ type: 'full', p: last.p })
  }
}
