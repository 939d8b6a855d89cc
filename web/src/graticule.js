// The base map when there are no tiles (no tile server configured, or it
// cannot be reached): a plain background with a labelled graticule, under the
// map's panes, so the page stays usable offline.

const STEPS = [30, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001]

export class Graticule {
  constructor (map) {
    this.map = map
    this.canvas = document.createElement('canvas')
    this.canvas.className = 'graticule-layer'
    map.getContainer().appendChild(this.canvas)
    this.raf = 0
    this.onView = () => this.invalidate()
    map.on('move zoom viewreset resize', this.onView)
    this.invalidate()
  }

  remove () {
    this.map.off('move zoom viewreset resize', this.onView)
    this.canvas.remove()
  }

  invalidate () {
    if (this.raf) return
    this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw() })
  }

  draw () {
    const map = this.map
    const size = map.getSize()
    const dpr = window.devicePixelRatio || 1
    const c = this.canvas
    if (c.width !== Math.round(size.x * dpr) || c.height !== Math.round(size.y * dpr)) {
      c.width = Math.round(size.x * dpr)
      c.height = Math.round(size.y * dpr)
      c.style.width = size.x + 'px'
      c.style.height = size.y + 'px'
    }
    const ctx = c.getContext('2d')
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.fillStyle = '#e9eef2'
    ctx.fillRect(0, 0, size.x, size.y)
    const b = map.getBounds()
    const span = Math.max(b.getEast() - b.getWest(), 1e-6)
    // about one line per 120 px
    const want = span * 120 / size.x
    const step = STEPS.find(s => s <= want) ?? STEPS[STEPS.length - 1]
    const decimals = Math.max(0, -Math.floor(Math.log10(step)))
    ctx.strokeStyle = 'rgba(60,80,100,0.25)'
    ctx.fillStyle = 'rgba(40,60,80,0.6)'
    ctx.lineWidth = 1
    ctx.font = '10px system-ui, sans-serif'
    ctx.beginPath()
    const south = Math.max(-85, b.getSouth())
    const north = Math.min(85, b.getNorth())
    for (let lon = Math.ceil(b.getWest() / step) * step; lon <= b.getEast(); lon += step) {
      const x = Math.round(map.latLngToContainerPoint([0, lon]).x) + 0.5
      ctx.moveTo(x, 0)
      ctx.lineTo(x, size.y)
      ctx.fillText(`${Math.abs(lon).toFixed(decimals)}°${lon < 0 ? 'W' : lon > 0 ? 'E' : ''}`, x + 3, size.y - 4)
    }
    for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      const y = Math.round(map.latLngToContainerPoint([lat, b.getWest()]).y) + 0.5
      ctx.moveTo(0, y)
      ctx.lineTo(size.x, y)
      ctx.fillText(`${Math.abs(lat).toFixed(decimals)}°${lat < 0 ? 'S' : lat > 0 ? 'N' : ''}`, 3, y - 3)
    }
    ctx.stroke()
  }
}
