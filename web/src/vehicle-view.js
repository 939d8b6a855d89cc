// One vehicle: its latest values (kept current from the live feed), and the
// playback of a time range: the downsampled track on the map, a time slider
// that moves a marker along it, and speed, fuel and engine temperature charts
// over the same range with a shared cursor.
import * as L from '/vendor/leaflet/leaflet-src.esm.js'
import UPlot from '/vendor/uplot/uPlot.esm.js'
import { api, qs } from './api.js'
import { stateOf } from './fleet-layer.js'

export const MAX_POINTS = 1000
const FALLBACK_PAGES = 5
/** @type {Array<[string, string, string, number | null]>} field, label, unit, decimals (null: as text) */
const FIELDS = [
  ['speed_kmh', 'speed', 'km/h', 1],
  ['heading_deg', 'heading', '°', 0],
  ['fuel_pct', 'fuel', '%', 1],
  ['engine_temp_c', 'engine temp', '°C', 1],
  ['ignition', 'ignition', '', null],
  ['battery_v', 'battery', 'V', 1],
  ['rpm', 'rpm', '', 0],
  ['odometer_km', 'odometer', 'km', 1],
  ['alt_m', 'altitude', 'm', 0]
]
/** @type {Array<[string, string, string]>} field, label, colour */
const CHARTS = [
  ['speed_kmh', 'speed km/h', '#1a9850'],
  ['fuel_pct', 'fuel %', '#3b6fb6'],
  ['engine_temp_c', 'engine °C', '#d7301f']
]

/** @type {(id: string) => any} the page's own elements, by id (index.html) */
const $ = (id) => document.getElementById(id)

function ago (ms) {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  return `${Math.round(s / 3600)} h ago`
}

function toLocalInput (ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000)
  return d.toISOString().slice(0, 19)
}

/** Keeps at most max points, the last of each equal time bucket (the API's track does better, in SQL). */
export function downsample (points, max) {
  if (points.length <= max) return points
  const t0 = Date.parse(points[0].ts)
  const t1 = Date.parse(points[points.length - 1].ts)
  const width = (t1 - t0) / max || 1
  const out = []
  let bucket = -1
  for (const p of points) {
    const b = Math.min(max - 1, Math.floor((Date.parse(p.ts) - t0) / width))
    if (b === bucket) out[out.length - 1] = p
    else { out.push(p); bucket = b }
  }
  return out
}

export class VehicleView {
  constructor (map, fleet, endpoints = {}) {
    this.endpoints = endpoints
    this.map = map
    this.fleet = fleet
    this.id = null
    this.track = null
    this.points = []
    this.charts = []
    this.source = null
    this.playTimer = 0
    this.abort = null
    this.trackLayer = L.polyline([], { color: '#6a3d9a', weight: 3, opacity: 0.85, renderer: L.canvas({ padding: 0.5 }), interactive: false }).addTo(map)
    this.cursor = L.circleMarker([0, 0], { radius: 7, color: '#111', weight: 2, fillColor: '#ffd92f', fillOpacity: 1, interactive: false })
    $('pb-range').addEventListener('change', () => { $('pb-custom').hidden = $('pb-range').value !== 'custom' })
    $('playback-form').addEventListener('submit', (e) => { e.preventDefault(); void this.load() })
    $('pb-slider').addEventListener('input', () => this.seek(Number($('pb-slider').value), 'slider'))
    $('pb-play').addEventListener('click', () => this.togglePlay())
    setInterval(() => this.renderLatest(), 1000)
  }

  show (id) {
    if (this.id !== id) this.clearPlayback()
    this.id = id
    $('vehicle-empty').hidden = true
    $('vehicle').hidden = false
    $('v-id').textContent = id
    const now = Date.now()
    $('pb-from').value = toLocalInput(now - 3600e3)
    $('pb-to').value = toLocalInput(now)
    this.renderLatest()
  }

  renderLatest () {
    if (!this.id) return
    const v = this.fleet.vehicles.get(this.id)
    const state = v ? stateOf(v, Date.now()) : 'offline'
    const badge = $('v-state')
    badge.textContent = v ? state : 'no position yet'
    badge.className = 'state ' + state
    const table = $('v-values')
    const rows = []
    if (v) {
      rows.push(['last seen', `${ago(Date.now() - v.tsMs)} (${new Date(v.tsMs).toLocaleTimeString()})`])
      rows.push(['position', `${v.lat.toFixed(5)}, ${v.lon.toFixed(5)}`])
      // the live batches carry these as numbers; the rest comes with the full record of the watched vehicle
      const p = { ...(v.p ?? {}), speed_kmh: v.speed, heading_deg: v.heading, engine_temp_c: v.temp }
      for (const [key, label, unit, digits] of FIELDS) {
        const x = p[key]
        if (x === undefined || x === null || (typeof x === 'number' && Number.isNaN(x))) continue
        rows.push([label, digits === null ? String(x) : `${Number(x).toFixed(digits)} ${unit}`])
      }
      if (v.lastAlert) rows.push(['last alert', `${v.lastAlert.type} ${new Date(v.lastAlert.ts).toLocaleTimeString()}`])
    }
    table.replaceChildren(...rows.map(([k, val]) => {
      const tr = document.createElement('tr')
      const a = document.createElement('td')
      const b = document.createElement('td')
      a.textContent = k
      b.textContent = val
      tr.append(a, b)
      return tr
    }))
  }

  range () {
    const r = $('pb-range').value
    if (r === 'custom') {
      const from = new Date($('pb-from').value).getTime()
      const to = new Date($('pb-to').value).getTime()
      return { from, to }
    }
    const to = Date.now()
    return { from: to - Number(r) * 1000, to }
  }

  async load () {
    if (!this.id) return
    const { from, to } = this.range()
    const note = $('pb-note')
    if (!(to > from)) { note.textContent = 'the end of the range must be after its start'; return }
    this.abort?.abort()
    const abort = new AbortController()
    this.abort = abort
    const id = this.id
    note.textContent = 'loading…'
    try {
      const { points, source, bucket } = await this.fetchTrack(id, new Date(from).toISOString(), new Date(to).toISOString(), abort.signal)
      if (abort.signal.aborted || id !== this.id) return
      this.points = points
      this.source = source
      note.textContent = points.length === 0
        ? 'no readings in this range'
        : `${points.length} points${bucket ? ` (one per ${bucket})` : ''}${source === 'readings' ? ' from raw readings (the track endpoint is not available)' : ''}`
      this.renderPlayback()
    } catch (err) {
      if (err.name === 'AbortError') return
      note.textContent = `could not load the history: ${err.message}`
    }
  }

  async fetchTrack (id, from, to, signal) {
    const path = `/api/v1/vehicles/${encodeURIComponent(id)}`
    if (this.endpoints.track !== false) {
      try {
        const body = await api(`${path}/track?${qs({ from, to, max_points: MAX_POINTS })}`, { signal })
        return { points: body.points, source: 'track', bucket: body.bucket }
      } catch (err) {
        if (!err.routeMissing) throw err
      }
    }
    // an api without /track: page through the raw readings, thin them here
    let points = []
    let cursor
    for (let i = 0; i < FALLBACK_PAGES; i++) {
      const body = await api(`${path}/readings?${qs({ from, to, limit: 10000, cursor })}`, { signal })
      points = points.concat(body.readings)
      cursor = body.next_cursor
      if (!cursor) break
    }
    return { points: downsample(points, MAX_POINTS), source: 'readings', bucket: null }
  }

  renderPlayback () {
    const pts = this.points
    $('playback').hidden = pts.length === 0
    this.destroyCharts()
    this.trackLayer.setLatLngs(pts.map(p => [p.lat, p.lon]))
    if (pts.length === 0) { this.cursor.remove(); return }
    this.map.fitBounds(this.trackLayer.getBounds(), { padding: [40, 40], maxZoom: 16 })
    const slider = $('pb-slider')
    slider.max = String(pts.length - 1)
    slider.value = String(pts.length - 1)
    this.cursor.addTo(this.map)
    const xs = pts.map(p => Date.parse(p.ts) / 1000)
    const width = $('charts').clientWidth || 300
    for (const [key, label, color] of CHARTS) {
      const ys = pts.map(p => (typeof p[key] === 'number' ? p[key] : null))
      const opts = {
        width,
        height: 100,
        legend: { show: true, live: true },
        cursor: { sync: { key: 'fleetgate-playback' }, drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{ size: 28, font: '10px system-ui' }, { size: 46, font: '10px system-ui' }],
        series: [{}, { label, stroke: color, width: 1.5, spanGaps: true, points: { show: false } }],
        hooks: {
          setCursor: [(u) => { if (!this.seeking && u.cursor.idx != null) this.seek(u.cursor.idx, 'chart') }]
        }
      }
      const chart = new UPlot(opts, [xs, ys], $('charts'))
      chart.root.dataset.series = key
      this.charts.push(chart)
    }
    this.seek(pts.length - 1, 'load')
  }

  seek (i, from) {
    const p = this.points[i]
    if (!p) return
    this.index = i
    this.cursor.setLatLng([p.lat, p.lon])
    $('pb-time').textContent = `${new Date(p.ts).toLocaleString()}  ${p.speed_kmh != null ? p.speed_kmh.toFixed(0) + ' km/h' : ''}`
    if (from !== 'slider') $('pb-slider').value = String(i)
    if (from !== 'chart') {
      this.seeking = true
      for (const c of this.charts) {
        const left = c.valToPos(c.data[0][i], 'x')
        c.setCursor({ left, top: 10 })
      }
      this.seeking = false
    }
  }

  togglePlay () {
    if (this.playTimer) { clearInterval(this.playTimer); this.playTimer = 0; $('pb-play').textContent = '▶'; return }
    if (this.points.length === 0) return
    if ((this.index ?? 0) >= this.points.length - 1) this.seek(0, 'play')
    $('pb-play').textContent = '❚❚'
    this.playTimer = setInterval(() => {
      const next = (this.index ?? 0) + 1
      if (next >= this.points.length) { this.togglePlay(); return }
      this.seek(next, 'play')
    }, 50)
  }

  destroyCharts () {
    for (const c of this.charts) c.destroy()
    this.charts = []
  }

  clearPlayback () {
    if (this.playTimer) this.togglePlay()
    this.abort?.abort()
    this.points = []
    this.destroyCharts()
    this.trackLayer.setLatLngs([])
    this.cursor.remove()
    $('playback').hidden = true
    $('pb-note').textContent = ''
  }
}
