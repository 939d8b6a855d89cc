// The live feed as the page sees it: one WebSocket for the life of the page,
// owned by a worker (live-worker.js), re-subscribed on the same socket
// whenever the viewport changes, reconnected with backoff when it drops.

export class LiveFeed {
  /**
   * @param {{ url: string, key: () => string, onBatch: (kind: string, ids: string[], num: Float64Array, full: object|null) => void, onFull: (p: object) => void, onEvent: (e: object) => void, onStatus?: (s: {vehicle_id: string, online: boolean}) => void, onState: (s: string) => void }} opts
   */
  constructor (opts) {
    this.opts = opts
    this.stats = { messages: 0, bytes: 0, positions: 0, subscribes: 0, connects: 0, parseMsMax: 0, handleMsMax: 0, applyMsMax: 0 }
    this.lastSubscribe = null
    this.worker = new Worker(new URL('./live-worker.js', import.meta.url), { type: 'module', name: 'fleetgate-live' })
    this.worker.onmessage = (e) => {
      const m = e.data
      if (m.type === 'batch') {
        const t0 = performance.now()
        opts.onBatch(m.kind, m.ids, m.num, m.full)
        this.stats = { ...m.stats, applyMsMax: Math.max(this.stats.applyMsMax, performance.now() - t0) }
      } else if (m.type === 'full') {
        opts.onFull(m.p)
      } else if (m.type === 'event') {
        opts.onEvent(m.event)
      } else if (m.type === 'status') {
        opts.onStatus?.(m.status)
      } else if (m.type === 'state') {
        opts.onState(m.state)
      } else if (m.type === 'subscribed') {
        this.lastSubscribe = { ...m.sub, at: m.at }
      }
    }
  }

  connect () {
    this.worker.postMessage({ type: 'connect', url: this.opts.url, key: this.opts.key() })
  }

  /** Subscribes to every vehicle inside bbox (or everywhere when bbox is null), at most maxHz updates per vehicle. */
  subscribe (bbox, maxHz = 1) {
    const sub = { type: 'subscribe', vehicles: '*', max_hz: maxHz }
    if (bbox) sub.bbox = bbox
    this.worker.postMessage({ type: 'subscribe', sub })
  }

  /** Full positions (every field) of this vehicle from now on, and the latest one known now. */
  watch (id) {
    this.worker.postMessage({ type: 'watch', id })
  }

  reconnect () { this.connect() }
}

/** The viewport as a live-feed bbox: padded, wrapped into [-180, 180] (west > east crosses the antimeridian), null when it spans the world. */
export function viewportBBox (bounds, pad = 0.1) {
  const west = bounds.getWest()
  const east = bounds.getEast()
  const south = bounds.getSouth()
  const north = bounds.getNorth()
  const dx = (east - west) * pad
  const dy = (north - south) * pad
  if (east - west + 2 * dx >= 360) return null
  const wrap = (lon) => ((((lon + 180) % 360) + 360) % 360) - 180
  const r = (x) => Math.round(x * 1e6) / 1e6
  let minLon = wrap(west - dx)
  let maxLon = wrap(east + dx)
  if (minLon === maxLon) { minLon = -180; maxLon = 180 }
  return [r(minLon), r(Math.max(-90, south - dy)), r(maxLon), r(Math.min(90, north + dy))]
}
