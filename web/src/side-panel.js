// The side panel's lists: fleet counts, ingest and rejection rates (from
// /api/v1/stats), and the quarantine (from /api/v1/rejections). Untrusted
// text (payloads, details, ids) goes in only through textContent.
import { api, qs } from './api.js'

/** @type {(id: string) => any} the page's own elements, by id (index.html) */
const $ = (id) => document.getElementById(id)

function el (tag, cls, text) {
  const e = document.createElement(tag)
  if (cls) e.className = cls
  if (text !== undefined) e.textContent = text
  return e
}

export class StatsPanel {
  constructor (fleet, endpoints = {}) {
    this.endpoints = endpoints
    this.fleet = fleet
    this.stats = null
    this.available = null
    setInterval(() => this.renderCounts(), 1000)
    void this.refresh()
    setInterval(() => { void this.refresh() }, 15000)
  }

  renderCounts () {
    const c = this.fleet.counts()
    $('n-moving').textContent = c.moving
    $('n-parked').textContent = c.parked
    $('n-offline').textContent = c.offline
    $('n-alerting').textContent = c.alerting
    // the api's count when it has one (all vehicles, not only those this page has heard of)
    $('n-online').textContent = this.stats ? `${this.stats.vehicles_online}` : `${c.total - c.offline}`
    $('n-online').title = this.stats ? `of ${this.stats.vehicles_total} known` : `of ${c.total} on this page`
  }

  async refresh () {
    if (this.endpoints.stats === false) {
      $('ingest-note').textContent = 'ingest rates: the stats endpoint is not available on this server'
      this.renderRates()
      this.renderCounts()
      return
    }
    try {
      this.stats = await api('/api/v1/stats')
      this.available = true
      $('ingest-note').textContent = ''
    } catch (err) {
      this.stats = null
      this.available = false
      $('ingest-note').textContent = err.routeMissing ? 'ingest rates: the stats endpoint is not available on this server' : `stats: ${err.message}`
    }
    this.renderRates()
    this.renderCounts()
  }

  renderRates () {
    const rows = this.stats?.per_minute ?? []
    // the last minute is still filling; show the last complete one
    const last = rows.length > 1 ? rows[rows.length - 2] : rows[0]
    $('rate-readings').textContent = last ? last.readings.toLocaleString() : '–'
    $('rate-rejections').textContent = last ? last.rejections.toLocaleString() : '–'
    const canvas = $('ingest-chart')
    const dpr = window.devicePixelRatio || 1
    const w = canvas.clientWidth || 300
    const h = canvas.clientHeight || 40
    canvas.width = w * dpr
    canvas.height = h * dpr
    const ctx = canvas.getContext('2d')
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, w, h)
    if (rows.length < 2) return
    const max = Math.max(1, ...rows.map(r => r.readings))
    const maxR = Math.max(1, ...rows.map(r => r.rejections))
    const line = (key, top, color) => {
      ctx.beginPath()
      rows.forEach((r, i) => {
        const x = i * (w - 2) / (rows.length - 1) + 1
        const y = h - 2 - (r[key] / top) * (h - 4)
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y)
      })
      ctx.strokeStyle = color
      ctx.lineWidth = 1.5
      ctx.stroke()
    }
    line('readings', max, '#1a9850')
    line('rejections', maxR, '#d7301f')
  }
}

export class RejectionsView {
  constructor (endpoints = {}) {
    this.endpoints = endpoints
    this.timer = 0
    this.visible = false
    $('rej-form').addEventListener('submit', (e) => { e.preventDefault(); void this.refresh() })
  }

  /** Refreshes now and every 30 s while shown. */
  show (visible) {
    clearInterval(this.timer)
    this.timer = 0
    this.visible = visible
    if (!visible) return
    void this.refresh()
    this.timer = setInterval(() => { void this.refresh() }, 30000)
  }

  refreshIfShown () {
    if (this.visible) void this.refresh()
  }

  async refresh () {
    const vehicle = $('rej-vehicle').value.trim()
    const note = $('rej-note')
    const list = $('rej-list')
    if (this.endpoints.rejections === false) {
      note.textContent = 'The rejections endpoint is not available on this server.'
      return
    }
    let body
    try {
      body = await api(`/api/v1/rejections?${qs({ vehicle_id: vehicle, limit: 100, order: 'desc' })}`)
    } catch (err) {
      note.textContent = err.routeMissing ? 'The rejections endpoint is not available on this server.' : `could not load the rejections: ${err.message}`
      list.replaceChildren()
      return
    }
    const rows = body.rejections ?? []
    note.textContent = rows.length === 0 ? 'No rejected payloads' + (vehicle ? ` for ${vehicle}.` : '.') : `${rows.length} latest${vehicle ? ` for ${vehicle}` : ''}, newest first`
    list.replaceChildren(...rows.map(r => {
      const item = el('div', 'rej')
      const meta = el('div', 'meta')
      meta.append(el('span', 'reason', r.reason), el('span', '', r.vehicle_id ?? '(unknown)'), el('span', '', new Date(r.ts).toLocaleString()))
      item.append(meta)
      if (r.detail) item.append(el('div', '', r.detail))
      if (r.topic) item.append(el('div', 'mono', r.topic))
      if (r.payload) item.append(el('pre', '', r.payload))
      return item
    }))
  }
}
