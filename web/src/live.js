// The live feed client: one WebSocket for the life of the page, re-subscribed
// (same socket) whenever the viewport changes, reconnected with backoff when
// it drops. The key, when there is one, goes as the subprotocol
// `bearer.<key>`: never in the URL, which servers and proxies log.

export class LiveFeed {
  /**
   * @param {{ url: string, key: () => string, onSnapshot: (p: object[]) => void, onPositions: (p: object[]) => void, onEvent: (e: object) => void, onState: (s: string) => void }} opts
   */
  constructor (opts) {
    this.opts = opts
    this.ws = null
    this.sub = null
    this.backoffMs = 1000
    this.stats = { messages: 0, bytes: 0, positions: 0, subscribes: 0, connects: 0 }
    this.lastSubscribe = null
    this.closed = false
  }

  connect () {
    if (this.closed) return
    const key = this.opts.key()
    // offering a subprotocol the server does not pick fails the handshake, so offer one only with a key
    const ws = key ? new WebSocket(this.opts.url, [`bearer.${key}`]) : new WebSocket(this.opts.url)
    this.ws = ws
    this.opts.onState('connecting')
    ws.onopen = () => {
      this.backoffMs = 1000
      this.stats.connects++
      this.opts.onState('live')
      if (this.sub) this.send(this.sub)
    }
    ws.onmessage = (e) => {
      const text = typeof e.data === 'string' ? e.data : ''
      this.stats.messages++
      this.stats.bytes += text.length
      let msg
      try { msg = JSON.parse(text) } catch { return }
      if (msg.type === 'positions') {
        this.stats.positions += msg.positions.length
        this.opts.onPositions(msg.positions)
      } else if (msg.type === 'snapshot') {
        this.stats.positions += msg.positions.length
        this.opts.onSnapshot(msg.positions)
      } else if (msg.type === 'event') {
        this.opts.onEvent(msg.event)
      } else if (msg.type === 'error') {
        this.opts.onState('error: ' + msg.detail)
      }
    }
    ws.onclose = (e) => {
      if (this.ws !== ws) return
      this.ws = null
      if (this.closed) return
      this.opts.onState(e.code === 1008 || e.code === 4401 ? 'unauthorized' : 'reconnecting')
      setTimeout(() => this.connect(), this.backoffMs)
      this.backoffMs = Math.min(this.backoffMs * 2, 30000)
    }
    // an error is always followed by close, which reconnects; nothing to log
    ws.onerror = () => {}
  }

  /** Subscribes to every vehicle inside bbox (or everywhere when bbox is null), at most maxHz updates per vehicle. */
  subscribe (bbox, maxHz = 1) {
    const sub = { type: 'subscribe', vehicles: '*', max_hz: maxHz }
    if (bbox) sub.bbox = bbox
    this.sub = sub
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.send(sub)
  }

  send (sub) {
    this.stats.subscribes++
    this.lastSubscribe = { ...sub, at: Date.now() }
    this.ws.send(JSON.stringify(sub))
  }

  reconnect () {
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); this.connect() } else this.connect()
  }

  close () {
    this.closed = true
    this.ws?.close()
  }
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
