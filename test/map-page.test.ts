// The map page in a real browser (headless Chromium) against the real stack
// in its default configuration (API keys required) with the simulator driving
// 20 vehicles: a first visit asks for a key, the key typed into the prompt
// opens the live feed, the vehicles appear and move, a viewport change
// narrows the live subscription, and a playback draws a track and charts.
// Screenshots go to web/test/artifacts/ (git-ignored).
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { startQuestDbForTest, startStack, issueTokens, pollUntil } from './helper.js'
import { vehicleTopic } from '../schemas/topics.js'
import type { BBox } from '../schemas/types.js'
import { chromiumAvailable, launchChromium, recordConsole, hook, waitFor, waitForExpression, type ConsoleLog } from '../benchmarks/harness/chromium.js'
import { simulate, vehicleIds } from '../simulator/src/simulate.js'
import { createApiKey } from '../api/src/api-keys.js'

const ARTIFACTS = fileURLToPath(new URL('../web/test/artifacts/', import.meta.url))
const VEHICLES = 20
const PREFIX = 'map-'

interface Pos { vehicle_id: string, ts: string, lat: number, lon: number }

/** A tile server on loopback that either serves a plain tile or fails every request. */
async function startTileServer (): Promise<{ url: string, failing: boolean, served: number, close: () => Promise<void> } & { server: Server }> {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#f2efe9" stroke="#d0ccc4"/></svg>'
  const state = {
    url: '',
    failing: true,
    served: 0,
    server: createServer((req, res) => {
      if (state.failing) { res.writeHead(503).end(); return }
      state.served++
      res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(svg)
    }),
    close: async () => { state.server.closeAllConnections(); await new Promise(resolve => state.server.close(resolve)) }
  }
  await new Promise<void>(resolve => state.server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/{z}/{x}/{y}.svg`
  return state
}

function inBox (p: { lat: number, lon: number }, b: BBox): boolean {
  return p.lat >= b[1] && p.lat <= b[3] && (b[0] <= b[2] ? p.lon >= b[0] && p.lon <= b[2] : p.lon >= b[0] || p.lon <= b[2])
}

t.test('the map page in headless Chromium', { skip: chromiumAvailable() || process.env.CI ? false : 'no /usr/bin/chromium (apt-get install chromium; in CI this fails instead)' }, async t => {
  mkdirSync(ARTIFACTS, { recursive: true })
  const tiles = await startTileServer()
  t.teardown(() => tiles.close())
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db, { API_AUTH: 'required', MAP_TILE_URL: tiles.url, MAP_TILE_ATTRIBUTION: 'test tiles <b>&</b>' })
  const readKey = createApiKey(stack.config.DATA_DIR, 'read').key
  const ids = vehicleIds(VEHICLES, PREFIX)
  const tokens = issueTokens(stack.config.DATA_DIR, ids)
  const stop = new AbortController()
  const sim = simulate({ url: stack.mqttUrl, vehicles: VEHICLES, hz: 1, durationS: 300, tokens, prefix: PREFIX, qos: 1, connectSpreadS: 0.5, drainTimeoutS: 5 }, { signal: stop.signal })
  t.teardown(async () => { stop.abort(); await sim })

  // history to play back: a few seconds of readings of the first vehicle, visible to queries
  const first = ids[0] as string
  await pollUntil(async () => {
    const res = await fetch(`${stack.httpUrl}/api/v1/vehicles/${first}/readings?limit=10`, { headers: { authorization: `Bearer ${readKey}` } })
    return res.ok && ((await res.json()) as { readings: unknown[] }).readings.length >= 5
  }, 60000, 'readings of the first vehicle')

  await t.test('the api serves the page, its npm assets and its config', async t => {
    const get = (path: string): Promise<Response> => fetch(stack.httpUrl + path)
    const index = await get('/')
    t.equal(index.status, 200)
    t.match(index.headers.get('content-type'), /^text\/html/)
    for (const path of ['/src/main.js', '/vendor/leaflet/leaflet-src.esm.js', '/vendor/uplot/uPlot.esm.js']) {
      const res = await get(path)
      t.equal(res.status, 200, path)
      t.match(res.headers.get('content-type'), /javascript/, `${path} as JavaScript (module scripts need it)`)
    }
    t.equal((await get('/vendor/leaflet/leaflet.css')).status, 200)
    const config = await (await get('/map-config.json')).json() as { tile_url: string, endpoints: Record<string, boolean> }
    t.equal(config.tile_url, tiles.url)
    t.same(Object.keys(config.endpoints).sort(), ['rejections', 'stats', 'track'], 'tells which optional endpoints exist')
    for (const path of ['/tsconfig.json', '/test/artifacts/1-fleet.png', '/../package.json']) t.equal((await get(path)).status, 404, `nothing but the page: ${path}`)
    const missing = await get('/api/v1/nope')
    t.equal(missing.status, 404)
    t.match(missing.headers.get('content-type'), /problem\+json/, 'unknown api paths still answer problem+json')
  })

  const { context, page, close } = await launchChromium({ width: 1280, height: 960 })
  t.teardown(close)
  const logs = recordConsole(page)

  const tileFailure = (l: ConsoleLog): boolean => l.text.startsWith('Failed to load resource') && l.url.startsWith(tiles.url.split('/{z}')[0] as string)
  // what the browser itself logs for the api requests refused before a key was typed
  const refusedForWantOfKey = (l: ConsoleLog): boolean =>
    l.text.startsWith('Failed to load resource: the server responded with a status of 401') && l.url.startsWith(stack.httpUrl + '/api/v1/')
  let beforeKey = 0

  await t.test('a first visit asks for an API key at once; the key typed into the prompt opens the live feed', async t => {
    const res = await page.goto(stack.httpUrl + '/')
    t.equal(res?.status(), 200, 'GET / serves the page')
    await waitFor(page, '$.ready')
    await waitFor(page, '$.keyPrompt', 10000)
    t.ok(await page.isVisible('#key-input'), 'the key prompt is shown without looking for the key button')
    await page.screenshot({ path: ARTIFACTS + '0-key-prompt.png' })
    beforeKey = logs.length
    t.ok(logs.some(refusedForWantOfKey), 'the first api request was refused for want of a key')
    t.same(logs.filter(l => !refusedForWantOfKey(l) && !tileFailure(l)), [], 'before the key, only the refused requests and failed tiles themselves are logged')
    await page.fill('#key-input', readKey)
    await page.check('#key-remember')
    await page.click('#key-save')
    t.notOk(await hook(page, 'keyPrompt'), 'the prompt closes')
    await waitFor(page, "$.conn === 'live'", 15000)
    t.pass('the live pill reads live')
    await waitFor(page, "$.baseMap === 'graticule'", 15000)
    t.pass('switched to the graticule after the tile server failed')
    const unexpected = logs.slice(beforeKey).filter(l => !tileFailure(l))
    t.same(unexpected, [], 'no console errors or warnings besides the failed tile requests themselves')
  })

  await t.test('every simulated vehicle appears and moves', async t => {
    await waitFor(page, `$.markerCount >= ${VEHICLES}`)
    const before = await hook<Pos[]>(page, 'positions')
    t.equal(before.filter(p => p.vehicle_id.startsWith(PREFIX)).length, VEHICLES, 'a marker per vehicle')
    await page.waitForTimeout(2500)
    const after = new Map((await hook<Pos[]>(page, 'positions')).map(p => [p.vehicle_id, p]))
    const moved = before.filter(p => after.get(p.vehicle_id)?.ts !== p.ts)
    t.ok(moved.length >= VEHICLES / 2, `positions updated live (${moved.length} of ${VEHICLES})`)
    t.equal(await hook(page, 'conn'), 'live', 'the pill still reads live')
    t.ok((await hook<{ connects: number }>(page, 'live')).connects >= 1, 'through the live feed (the minute-long /vehicles refresh cannot move them in 2.5 s)')
    const sub = await hook<{ vehicles: string, max_hz: number }>(page, 'lastSubscribe')
    t.equal(sub.vehicles, '*')
    t.equal(sub.max_hz, 1, 'subscribes with max_hz conflation')
    await page.screenshot({ path: ARTIFACTS + '1-fleet.png' })
  })

  await t.test('an alert event turns a vehicle red', async t => {
    const id = 'map-alert'
    const token = issueTokens(stack.config.DATA_DIR, [id]).get(id)
    const client = await mqtt.connectAsync(stack.mqttUrl, { clientId: id, username: id, password: token, protocolVersion: 4 })
    t.teardown(() => client.endAsync(true))
    const ts = new Date().toISOString()
    // in the middle of the current view, so the screenshot shows it
    const [w, s, e, n] = (await hook<{ bbox: BBox }>(page, 'view')).bbox
    const at = { lat: Math.round((s + n) / 2 * 1e5) / 1e5, lon: Math.round((w + e) / 2 * 1e5) / 1e5 }
    await client.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts, ...at, speed_kmh: 0, heading_deg: 90 }), { qos: 1 })
    await waitFor(page, `$.positions.some(p => p.vehicle_id === '${id}')`)
    t.equal(await page.textContent('#n-alerting'), '0', 'no alert before the event')
    await client.publishAsync(vehicleTopic(id, 'events'), JSON.stringify({ ts, type: 'panic', ...at }), { qos: 1 })
    await waitForExpression(page, 'document.getElementById("n-alerting").textContent === "1"', 10000)
    t.pass('the alerting count shows it')
    t.equal(await hook(page, `stateOf('${id}')`), 'alerting', 'the vehicle is drawn red (alerting)')
    await page.screenshot({ path: ARTIFACTS + '1b-alert.png' })
  })

  await t.test('a vehicle whose session ends is drawn offline at once', async t => {
    const id = 'map-off'
    const token = issueTokens(stack.config.DATA_DIR, [id]).get(id)
    const client = await mqtt.connectAsync(stack.mqttUrl, { clientId: id, username: id, password: token, protocolVersion: 4 })
    const [w, s, e, n] = (await hook<{ bbox: BBox }>(page, 'view')).bbox
    const at = { lat: Math.round((s * 0.4 + n * 0.6) * 1e5) / 1e5, lon: Math.round((w * 0.4 + e * 0.6) * 1e5) / 1e5 }
    await client.publishAsync(vehicleTopic(id, 'telemetry'), JSON.stringify({ ts: new Date().toISOString(), ...at, speed_kmh: 0 }), { qos: 1 })
    await waitFor(page, `$.positions.some(p => p.vehicle_id === '${id}')`)
    t.equal(await hook(page, `stateOf('${id}')`), 'parked', 'connected and standing: parked')
    await client.endAsync()
    // the gateway stores and pushes offline when the session ends; the page
    // no longer waits two minutes of silence to guess it
    await waitFor(page, `$.stateOf('${id}') === 'offline'`, 10000)
    t.pass('offline within seconds of the session\'s end, from the live feed\'s status message')
  })

  await t.test('a viewport change narrows the subscription', async t => {
    // the subscribe the page sent on its socket (recorded by the live worker as it sends it)
    const wide = (await hook<{ bbox?: BBox }>(page, 'lastSubscribe')).bbox
    const wideZoom = await hook<number>(page, 'view.zoom')
    const target = ids[3] as string
    await page.fill('#search-input', target)
    await page.press('#search-input', 'Enter')
    await waitFor(page, '$.view.zoom >= 16')
    await waitFor(page, '$.lastSubscribe.bbox && $.lastSubscribe.bbox[2] - $.lastSubscribe.bbox[0] < 0.1', 5000)
    const narrow = (await hook<{ bbox: BBox }>(page, 'lastSubscribe')).bbox
    const area = (b: BBox): number => (b[2] - b[0]) * (b[3] - b[1])
    const narrowZoom = await hook<number>(page, 'view.zoom')
    t.ok(narrowZoom - wideZoom >= 2, `zoomed in from ${wideZoom} to ${narrowZoom}`)
    // each zoom level halves the box's width and height: a quarter of the area
    const factor = 4 ** (narrowZoom - wideZoom)
    t.ok(!wide || area(narrow) <= area(wide) / factor * 1.25, `bbox narrowed by the zoom (x${factor}): ${JSON.stringify(wide)} -> ${JSON.stringify(narrow)}`)
    const here = (await hook<Pos[]>(page, 'positions')).find(p => p.vehicle_id === target)
    t.ok(here && inBox(here, narrow), 'the new bbox holds the vehicle it was centred on')
    t.equal(await hook(page, 'selected'), target, 'search selects the vehicle')
    await page.waitForTimeout(2500)
    const since = await hook<{ positions: number, outside: number, vehicles: number }>(page, 'live.sinceSubscribe')
    t.ok(since.positions > 0, `positions still arrive (${since.positions})`)
    t.equal(since.outside, 0, 'none of them outside the new bbox')
    t.ok(since.vehicles < VEHICLES, `fewer vehicles on the wire (${since.vehicles} of ${VEHICLES + 1})`)
    await page.screenshot({ path: ARTIFACTS + '2-zoomed.png' })
  })

  await t.test('playback draws a track and charts', async t => {
    await page.fill('#search-input', first)
    await page.press('#search-input', 'Enter')
    await page.waitForSelector('#vehicle:not([hidden])')
    t.equal(await page.textContent('#v-id'), first)
    await waitForExpression(page, '/fuel/.test(document.getElementById("v-values").textContent)', 5000)
    t.match(await page.textContent('#v-values') ?? '', /last seen.*speed.*km\/h.*fuel.*%.*engine temp.*°C/s, 'latest values of the vehicle')
    await page.selectOption('#pb-range', '900')
    await page.click('#pb-load')
    const n = await waitFor<number>(page, '$.playback.charts === 3 && $.playback.points', 20000)
    t.ok(n >= 5, `track has ${n} points`)
    const pb = await hook<{ source: string, index: number }>(page, 'playback')
    t.ok(['track', 'readings'].includes(pb.source), `from ${pb.source}`)
    t.equal(pb.index, n - 1, 'the slider starts at the end of the range')
    t.equal(await page.locator('#charts .uplot canvas').count(), 3, 'speed, fuel and engine temperature charts')
    t.ok(await page.locator('.leaflet-overlay-pane canvas').count() >= 1, 'the track is drawn on the map')
    const end = await hook<{ lat: number, lng: number }>(page, 'playback.cursor')
    await page.focus('#pb-slider')
    await page.keyboard.press('Home')
    const start = await hook<{ index: number, cursor: { lat: number, lng: number } }>(page, 'playback')
    t.equal(start.index, 0, 'Home moves the slider to the start')
    t.not(JSON.stringify(start.cursor), JSON.stringify(end), 'the marker moved along the track')
    await page.keyboard.press('ArrowRight')
    t.equal(await hook(page, 'playback.index'), 1, 'arrow steps one point')
    await page.screenshot({ path: ARTIFACTS + '3-playback.png' })
  })

  await t.test('rejections view: the newest 100, newest first', async t => {
    // 101 malformed payloads: the view of 100 must show the last one first and leave out the first
    const id = 'map-rejected'
    const token = issueTokens(stack.config.DATA_DIR, [id]).get(id)
    const client = await mqtt.connectAsync(stack.mqttUrl, { clientId: id, username: id, password: token, protocolVersion: 4 })
    t.teardown(() => client.endAsync(true))
    for (let i = 0; i <= 100; i++) await client.publishAsync(vehicleTopic(id, 'telemetry'), `{"bad": ${i}`, { qos: 1 })
    await pollUntil(async () => {
      const res = await fetch(`${stack.httpUrl}/api/v1/rejections?vehicle_id=${id}&order=desc&limit=1`, { headers: { authorization: `Bearer ${readKey}` } })
      return res.ok && ((await res.json()) as { rejections: Array<{ payload: string }> }).rejections[0]?.payload === '{"bad": 100'
    }, 30000, 'the last rejection queryable')
    await page.click('#tabs button[data-tab=rejections]')
    await waitForExpression(page, 'document.getElementById("rej-note").textContent !== ""', 10000)
    const note = await page.textContent('#rej-note') ?? ''
    t.match(note, /^100 latest, newest first$/, `says: ${note}`)
    const payloads = await page.locator('#rej-list .rej pre').allTextContents()
    t.equal(payloads.length, 100)
    t.equal(payloads[0], '{"bad": 100', 'the newest first')
    t.equal(payloads[99], '{"bad": 1', 'down to the 100th newest')
    await page.screenshot({ path: ARTIFACTS + '4-rejections.png' })
  })

  await t.test('with a working tile server: tiles and no console errors at all', async t => {
    tiles.failing = false
    const page2 = await context.newPage()
    // same profile: this page restores the view and the remembered key the first one left in localStorage
    const logs2: ConsoleLog[] = recordConsole(page2)
    await page2.goto(stack.httpUrl + '/')
    await waitFor(page2, '$.ready')
    await page2.waitForTimeout(1500)
    t.equal(await hook(page2, 'baseMap'), 'tiles')
    t.ok(tiles.served > 0, `tiles served (${tiles.served})`)
    t.match(await page2.textContent('.leaflet-control-attribution') ?? '', 'test tiles <b>&</b>', 'attribution shown as text')
    t.same(logs2, [], 'no console errors or warnings')
    t.notOk(await hook(page2, 'keyPrompt'), 'a remembered key is not asked for again')
    await waitFor(page2, "$.conn === 'live'", 15000)
    await page2.close()
  })

  t.same(logs.slice(beforeKey).filter(l => !l.text.startsWith('Failed to load resource')), [], 'no console errors during the whole session once the key was typed')
  stop.abort()
  await sim
})
