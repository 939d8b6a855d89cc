// The map page: wires the base map, the fleet layer, the live feed (following
// the viewport), the side panel and the vehicle view. Plain ES modules served
// as they are; Leaflet and uPlot come from the api's /vendor/ (npm packages).
import * as L from '/vendor/leaflet/leaflet-src.esm.js'
import { api, getKey, setKey, onUnauthorized } from './api.js'
import { LiveFeed, viewportBBox } from './live.js'
import { FleetLayer, stateOf } from './fleet-layer.js'
import { Graticule } from './graticule.js'
import { VehicleView } from './vehicle-view.js'
import { StatsPanel, RejectionsView } from './side-panel.js'

/** @type {(id: string) => any} the page's own elements, by id (index.html) */
const $ = (id) => document.getElementById(id)
const VIEW_KEY = 'fleetgate.view'
const SEED_EVERY_MS = 60000
const MAX_HZ = 1

function escapeHtml (s) {
  return String(s).replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

async function main () {
  const config = await fetch('/map-config.json').then(r => r.json()).catch(() => ({ tile_url: null, tile_attribution: '', endpoints: {} }))
  const endpoints = { track: true, stats: true, rejections: true, ...config.endpoints }
  const saved = JSON.parse(localStorage.getItem(VIEW_KEY) ?? 'null')
  const map = L.map('map', {
    // markers live on our own canvas, redrawn on every move; an animated zoom would leave them behind for 250 ms
    zoomAnimation: false,
    minZoom: 2,
    maxZoom: 19,
    worldCopyJump: false
  }).setView(saved?.center ?? [20, 0], saved?.zoom ?? 2)

  const state = { baseMap: 'none', tileErrors: 0, tilesLoaded: 0 }
  let graticule = null
  const useGraticule = () => {
    if (!graticule) graticule = new Graticule(map)
    state.baseMap = 'graticule'
  }
  if (config.tile_url) {
    const tiles = L.tileLayer(config.tile_url, { maxZoom: 19, attribution: escapeHtml(config.tile_attribution ?? '') })
    state.baseMap = 'tiles'
    // no tile server reachable (offline, firewalled): fall back to the graticule for good, quietly
    const giveUp = () => {
      if (state.baseMap !== 'tiles' || state.tilesLoaded > 0) return
      map.removeLayer(tiles)
      useGraticule()
    }
    tiles.on('tileload', () => { state.tilesLoaded++ })
    tiles.on('tileerror', () => { if (++state.tileErrors >= 2) giveUp() })
    setTimeout(giveUp, 10000)
    tiles.addTo(map)
  } else {
    useGraticule()
  }

  // API key: asked for as soon as the api refuses one, so listening starts
  // before the first request (the stats panel makes one as it is built);
  // kept in sessionStorage, or localStorage on request
  const dialog = $('key-dialog')
  const keySaved = new Set()
  function askKey () { if (!dialog.open) dialog.showModal() }
  onUnauthorized(askKey)
  $('key-button').addEventListener('click', askKey)
  dialog.addEventListener('close', () => {
    if (dialog.returnValue !== 'save') return
    setKey($('key-input').value.trim(), $('key-remember').checked)
    $('key-input').value = ''
    for (const fn of keySaved) fn()
  })

  const fleet = new FleetLayer(map, { onSelect: (id) => selectVehicle(id, false) })
  const view = new VehicleView(map, fleet, endpoints)
  const stats = new StatsPanel(fleet, endpoints)
  const rejections = new RejectionsView(endpoints)

  const connEl = $('conn')
  const live = new LiveFeed({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live`,
    key: getKey,
    onBatch: (kind, ids, num, full) => {
      fleet.applyColumns(ids, num)
      if (full) fleet.upsert([full])
      if (kind === 'snapshot') stats.renderCounts()
    },
    onFull: (p) => { fleet.upsert([p]); view.renderLatest() },
    onEvent: (e) => fleet.event(e),
    onStatus: (s) => { fleet.status(s.vehicle_id, s.online); stats.renderCounts() },
    onState: (s) => {
      connEl.textContent = s
      connEl.className = 'conn ' + (s === 'live' ? 'live' : s === 'connecting' ? '' : 'down')
      if (s === 'unauthorized') askKey()
    }
  })

  let subTimer = 0
  const follow = () => {
    clearTimeout(subTimer)
    subTimer = setTimeout(() => {
      live.subscribe(viewportBBox(map.getBounds()), MAX_HZ)
      localStorage.setItem(VIEW_KEY, JSON.stringify({ center: map.getCenter(), zoom: map.getZoom() }))
    }, 150)
  }
  map.on('moveend', follow)
  live.subscribe(viewportBBox(map.getBounds()), MAX_HZ)
  live.connect()

  // vehicles outside the viewport get no live updates; their latest positions come from here
  let firstSeed = !saved
  const seed = async () => {
    try {
      const body = await api('/api/v1/vehicles')
      const positions = body.vehicles.map(v => v.position).filter(Boolean)
      fleet.upsert(positions)
      // online as the api defines it: the gateway's session status
      for (const v of body.vehicles) fleet.status(v.vehicle_id, v.online)
      stats.renderCounts()
      if (firstSeed && positions.length > 0) {
        firstSeed = false
        map.fitBounds(L.latLngBounds(positions.map(p => [p.lat, p.lon])), { padding: [30, 30], maxZoom: 15 })
      }
    } catch (err) {
      if (err.status !== 401 && err.status !== 403) connEl.title = `vehicles: ${err.message}`
    }
  }
  await seed()
  setInterval(() => { void seed() }, SEED_EVERY_MS)

  function selectVehicle (id, center) {
    fleet.select(id)
    live.watch(id)
    view.show(id)
    showTab('vehicle')
    const v = fleet.vehicles.get(id)
    if (center && v) map.setView([v.lat, v.lon], Math.max(map.getZoom(), 16))
  }

  // search by id: exact match selects, otherwise the first ids that start with (or contain) the text
  const hits = $('search-hits')
  const showHits = (text) => {
    const q = text.trim().toLowerCase()
    hits.replaceChildren()
    if (!q) return []
    const found = []
    for (const id of fleet.vehicles.keys()) {
      if (id.toLowerCase().includes(q)) found.push(id)
      if (found.length >= 200) break
    }
    found.sort((a, b) => (a.toLowerCase().startsWith(q) ? 0 : 1) - (b.toLowerCase().startsWith(q) ? 0 : 1) || (a < b ? -1 : 1))
    hits.replaceChildren(...found.slice(0, 8).map(id => {
      const b = document.createElement('button')
      b.type = 'button'
      b.textContent = id
      b.addEventListener('click', () => { $('search-input').value = id; hits.replaceChildren(); selectVehicle(id, true) })
      return b
    }))
    if (found.length === 0) hits.textContent = `no vehicle matches “${text.trim()}”`
    return found
  }
  $('search-input').addEventListener('input', () => { showHits($('search-input').value) })
  $('search').addEventListener('submit', (e) => {
    e.preventDefault()
    const text = $('search-input').value.trim()
    if (fleet.vehicles.has(text)) { hits.replaceChildren(); selectVehicle(text, true); return }
    const found = showHits(text)
    if (found.length === 1) { hits.replaceChildren(); selectVehicle(found[0], true) }
  })

  function showTab (name) {
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll('#tabs button'))) b.classList.toggle('active', b.dataset.tab === name)
    $('tab-vehicle').hidden = name !== 'vehicle'
    $('tab-rejections').hidden = name !== 'rejections'
    rejections.show(name === 'rejections')
  }
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll('#tabs button'))) b.addEventListener('click', () => showTab(b.dataset.tab))

  keySaved.add(() => {
    live.reconnect()
    void seed()
    void stats.refresh()
    rejections.refreshIfShown()
  })

  // a read-only view for tests and benchmarks; no handle that changes anything
  Object.defineProperty(window, '__fleetgate', {
    value: Object.freeze({
      get ready () { return true },
      get conn () { return connEl.textContent },
      get keyPrompt () { return dialog.open },
      stateOf (id) { const v = fleet.vehicles.get(id); return v ? stateOf(v, Date.now()) : null },
      get baseMap () { return state.baseMap },
      get markerCount () { return fleet.drawn.vehicles },
      get drawn () { return { ...fleet.drawn } },
      get vehicleCount () { return fleet.vehicles.size },
      get positions () { return [...fleet.vehicles.values()].map(v => ({ vehicle_id: v.id, ts: new Date(v.tsMs).toISOString(), lat: v.lat, lon: v.lon })) },
      get lastSubscribe () { return live.lastSubscribe && { ...live.lastSubscribe } },
      get live () { return { ...live.stats } },
      get view () { const b = map.getBounds(); return { zoom: map.getZoom(), bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] } },
      get selected () { return fleet.selected },
      get playback () { return { points: view.points.length, source: view.source, index: view.index ?? null, charts: view.charts.length, cursor: view.points.length ? view.cursor.getLatLng() : null } }
    })
  })
}

main().catch(err => {
  document.body.prepend(Object.assign(document.createElement('p'), { textContent: `the map page failed to start: ${err.message}` }))
  throw err
})
