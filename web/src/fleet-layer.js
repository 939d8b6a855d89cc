// Every vehicle on one canvas over the map: a DOM or SVG node per vehicle
// cannot keep 10,000 markers moving at 1 Hz. Positions are projected once per
// update into Web Mercator world units; a frame only scales and shifts them.
// Zoomed out, vehicles are grouped on a screen grid (one circle per cell).
import { mercator, STRIDE } from './position-columns.js'

export const OFFLINE_AFTER_MS = 120000
export const ALERT_HOLD_MS = 5 * 60000
export const ALERT_EVENTS = new Set(['harsh_brake', 'harsh_accel', 'overspeed', 'dtc', 'panic'])
export const ENGINE_HOT_C = 110
export const MOVING_KMH = 3
/** At this zoom and above every vehicle is drawn on its own. */
export const CLUSTER_BELOW_ZOOM = 14
const CELL_PX = 56

export const COLORS = { moving: '#1a9850', parked: '#3b6fb6', offline: '#8c8c8c', alerting: '#d7301f' }
const STATES = ['offline', 'parked', 'moving', 'alerting'] // drawing order: alerts on top

export function stateOf (v, now) {
  // the api's online (the gateway's session status) when known; a silence otherwise
  if (v.online === false || (v.online === undefined && now - v.tsMs > OFFLINE_AFTER_MS)) return 'offline'
  if (v.alertUntil > now || v.temp >= ENGINE_HOT_C) return 'alerting'
  if (v.speed >= MOVING_KMH) return 'moving'
  return 'parked'
}

export class FleetLayer {
  /** @param {any} map a Leaflet map @param {{ onSelect?: (id: string) => void }} [opts] */
  constructor (map, { onSelect } = {}) {
    this.map = map
    this.onSelect = onSelect ?? (() => {})
    /** @type {Map<string, {id: string, tsMs: number, lat: number, lon: number, mx: number, my: number, speed: number, heading: number, temp: number, alertUntil: number, p: any, pTsMs: number, lastAlert?: any, online?: boolean}>} */
    this.vehicles = new Map()
    this.selected = null
    this.raf = 0
    this.drawn = { vehicles: 0, markers: 0, clusters: 0, ms: 0 }
    this.hits = [] // [x, y, r, kind (0 vehicle, 1 cluster), ref]
    this.canvas = document.createElement('canvas')
    this.canvas.className = 'fleet-layer'
    map.getContainer().appendChild(this.canvas)
    this.ctx = this.canvas.getContext('2d')
    this.resize()
    map.on('move zoom viewreset', () => this.invalidate())
    map.on('resize', () => { this.resize(); this.invalidate() })
    map.on('click', (e) => this.click(e.containerPoint))
    // states age (offline after a silence) without any message arriving
    setInterval(() => this.invalidate(), 5000)
  }

  resize () {
    const size = this.map.getSize()
    const dpr = window.devicePixelRatio || 1
    this.dpr = dpr
    this.canvas.width = Math.round(size.x * dpr)
    this.canvas.height = Math.round(size.y * dpr)
    this.canvas.style.width = size.x + 'px'
    this.canvas.style.height = size.y + 'px'
  }

  record (id) {
    let v = this.vehicles.get(id)
    if (!v) {
      v = { id, tsMs: -Infinity, lat: 0, lon: 0, mx: 0, my: 0, speed: NaN, heading: 0, temp: NaN, alertUntil: 0, p: null, pTsMs: -Infinity }
      this.vehicles.set(id, v)
    }
    return v
  }

  /** Merges full positions (from /vehicles, or the watched vehicle's); older than what is known is ignored. */
  upsert (positions) {
    for (const p of positions) {
      if (typeof p.lat !== 'number' || typeof p.lon !== 'number') continue
      const tsMs = Date.parse(p.ts)
      const v = this.record(p.vehicle_id)
      if (tsMs < v.tsMs) continue
      if (tsMs > v.tsMs) {
        const m = mercator(p.lat, p.lon)
        Object.assign(v, { tsMs, lat: p.lat, lon: p.lon, mx: m[0], my: m[1], speed: p.speed_kmh ?? NaN, heading: p.heading_deg ?? 0, temp: p.engine_temp_c ?? NaN })
      }
      v.p = p
      v.pTsMs = tsMs
    }
    this.invalidate()
  }

  /** Merges a live batch in columns (see position-columns.js). */
  applyColumns (ids, num) {
    for (let i = 0; i < ids.length; i++) {
      const o = i * STRIDE
      const tsMs = num[o + 4]
      const v = this.record(ids[i])
      if (tsMs < v.tsMs) continue
      v.tsMs = tsMs
      v.lat = num[o]
      v.lon = num[o + 1]
      v.mx = num[o + 2]
      v.my = num[o + 3]
      v.speed = num[o + 5]
      const h = num[o + 6]
      if (!Number.isNaN(h)) v.heading = h // absent: keep the last known heading
      v.temp = num[o + 7]
      // the full record is now older than the numbers; the watched vehicle gets a new one with the batch
      if (v.p && v.pTsMs < tsMs) v.p = null
    }
    this.invalidate()
  }

  /** The vehicle's session started (true) or ended (false). */
  status (id, online) {
    const v = this.vehicles.get(id)
    if (!v || typeof online !== 'boolean') return
    v.online = online
    this.invalidate()
  }

  event (e) {
    if (!ALERT_EVENTS.has(e.type)) return
    const v = this.vehicles.get(e.vehicle_id)
    if (!v) return
    v.alertUntil = Math.max(v.alertUntil, Date.parse(e.ts) + ALERT_HOLD_MS)
    v.lastAlert = e
    this.invalidate()
  }

  counts (now = Date.now()) {
    const c = { moving: 0, parked: 0, offline: 0, alerting: 0, total: this.vehicles.size }
    for (const v of this.vehicles.values()) c[stateOf(v, now)]++
    return c
  }

  select (id) {
    this.selected = id
    this.invalidate()
  }

  invalidate () {
    if (this.raf) return
    this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw() })
  }

  draw () {
    const t0 = performance.now()
    const { ctx, map, dpr } = this
    const size = map.getSize()
    const zoom = map.getZoom()
    const scale = 256 * Math.pow(2, zoom)
    const origin = map.getPixelBounds().min
    const now = Date.now()
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, size.x, size.y)
    const margin = 20
    const clustering = zoom < CLUSTER_BELOW_ZOOM
    const hits = []
    // per state: flat [x, y, headingRad, ...] of single markers
    const singles = { offline: [], parked: [], moving: [], alerting: [] }
    const cells = new Map()
    let visible = 0
    let selectedAt = null
    for (const v of this.vehicles.values()) {
      const x = v.mx * scale - origin.x
      const y = v.my * scale - origin.y
      if (x < -margin || y < -margin || x > size.x + margin || y > size.y + margin) continue
      visible++
      const state = stateOf(v, now)
      if (v.id === this.selected) selectedAt = [x, y]
      if (clustering) {
        const key = (Math.floor(y / CELL_PX) + 2) * 4096 + Math.floor(x / CELL_PX) + 2
        let c = cells.get(key)
        if (!c) { c = { n: 0, sx: 0, sy: 0, v, states: { offline: 0, parked: 0, moving: 0, alerting: 0 } }; cells.set(key, c) }
        c.n++
        c.sx += x
        c.sy += y
        c.states[state]++
      } else {
        singles[state].push(x, y, v.heading * Math.PI / 180, v)
      }
    }
    let clusters = 0
    let markers = 0
    if (clustering) {
      for (const c of cells.values()) {
        if (c.n === 1) {
          const state = STATES.find(s => c.states[s] === 1)
          singles[state].push(c.sx, c.sy, c.v.heading * Math.PI / 180, c.v)
        }
      }
    }
    for (const state of STATES) {
      const list = singles[state]
      if (list.length === 0) continue
      ctx.beginPath()
      for (let i = 0; i < list.length; i += 4) {
        const x = list[i]; const y = list[i + 1]; const h = list[i + 2]
        const s = Math.sin(h); const c = Math.cos(h)
        // an arrow 16 px long pointing along the heading (0 = north, clockwise)
        ctx.moveTo(x + 9 * s, y - 9 * c)
        ctx.lineTo(x - 6 * c - 7 * s, y - 6 * s + 7 * c)
        ctx.lineTo(x - 3 * s, y + 3 * c)
        ctx.lineTo(x + 6 * c - 7 * s, y + 6 * s + 7 * c)
        ctx.closePath()
        hits.push(x, y, 10, 0, list[i + 3])
        markers++
      }
      ctx.fillStyle = COLORS[state]
      ctx.fill()
      ctx.lineWidth = 1
      ctx.strokeStyle = 'rgba(255,255,255,0.9)'
      ctx.stroke()
    }
    if (clustering) {
      ctx.textAlign = 'center'
      ctx.textBaseline = 'middle'
      ctx.font = '600 11px system-ui, sans-serif'
      for (const c of cells.values()) {
        if (c.n === 1) continue
        clusters++
        const x = c.sx / c.n
        const y = c.sy / c.n
        const r = Math.min(26, 11 + 4 * Math.log10(c.n))
        let major = 'offline'
        for (const s of STATES) if (c.states[s] > c.states[major]) major = s
        ctx.beginPath()
        ctx.arc(x, y, r, 0, Math.PI * 2)
        ctx.fillStyle = COLORS[major]
        ctx.globalAlpha = 0.85
        ctx.fill()
        ctx.globalAlpha = 1
        ctx.lineWidth = c.states.alerting > 0 ? 3 : 1.5
        ctx.strokeStyle = c.states.alerting > 0 ? COLORS.alerting : '#fff'
        ctx.stroke()
        ctx.fillStyle = '#fff'
        ctx.fillText(c.n > 9999 ? Math.round(c.n / 1000) + 'k' : String(c.n), x, y)
        hits.push(x, y, r, 1, null)
      }
    }
    if (selectedAt) {
      ctx.beginPath()
      ctx.arc(selectedAt[0], selectedAt[1], 14, 0, Math.PI * 2)
      ctx.lineWidth = 2.5
      ctx.strokeStyle = '#111'
      ctx.stroke()
    }
    this.hits = hits
    this.drawn = { vehicles: visible, markers, clusters, ms: performance.now() - t0 }
  }

  click (pt) {
    const h = this.hits
    let best = -1
    let bestD = Infinity
    for (let i = 0; i < h.length; i += 5) {
      const d = Math.hypot(h[i] - pt.x, h[i + 1] - pt.y)
      if (d <= h[i + 2] + 2 && d < bestD) { best = i; bestD = d }
    }
    if (best < 0) return
    if (h[best + 3] === 1) {
      const ll = this.map.containerPointToLatLng([h[best], h[best + 1]])
      this.map.setView(ll, Math.min(this.map.getZoom() + 2, CLUSTER_BELOW_ZOOM))
    } else {
      this.onSelect(h[best + 4].id)
    }
  }
}
