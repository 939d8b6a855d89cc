// The map page under a 10,000-vehicle fleet at 1 Hz, in headless Chromium:
// the page's longest main-thread task (PerformanceObserver 'longtask'),
// frames per second while updating (a requestAnimationFrame counter), and the
// bytes per second the live feed sends to one map (WebSocket frames counted
// through CDP). Positions are fed straight into the stack's in-process live
// bus (what the gateway does for every accepted reading), so the numbers are
// the api's live feed and the page, not MQTT or QuestDB.
//
//   npm run bench:map -- [--vehicles 10000] [--warmup 3] [--measure 10]
//
// Prints one JSON object; also writes it, and a screenshot per scenario, to
// benchmarks/results/ (git-ignored).
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg, cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { loadConfig } from '../schemas/config.js'
import { runGateway } from '../gateway/src/index.js'
import { runApi } from '../api/src/main.js'
import { createCleanup, startBenchQuestDb, tempDir } from './harness/processes.js'
import { launchChromium, chromiumAvailable, waitForExpression, CHROMIUM } from './harness/chromium.js'
import { createVehicle, networkForSeed, step, type VehicleState } from '../simulator/src/fleet.js'
import { vehicleIds } from '../simulator/src/simulate.js'

const { values: args } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '10000' },
    hz: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '3' },
    measure: { type: 'string', default: '10' },
    // count frame bytes through CDP too (it copies every frame to the DevTools protocol, on the page's main thread)
    cdp: { type: 'boolean', default: false }
  }
})
const VEHICLES = Number(args.vehicles)
const HZ = Number(args.hz)
const WARMUP_S = Number(args.warmup)
const MEASURE_S = Number(args.measure)

/** What the page is looking at: the saved view it restores at load. */
const SCENARIOS = [
  { name: 'city, clustered (every vehicle in view)', center: { lat: -26.175, lng: 28.05 }, zoom: 11 },
  { name: 'district, single markers', center: { lat: -26.175, lng: 28.05 }, zoom: 14 },
  { name: 'world, clustered', center: { lat: 20, lng: 0 }, zoom: 2 }
]

// installed before the page's own scripts: long tasks and a frame counter
const PROBE = `
  window.__bench = { longtasks: [], frames: 0 };
  new PerformanceObserver(l => { for (const e of l.getEntries()) window.__bench.longtasks.push([e.startTime, e.duration]) })
    .observe({ type: 'longtask', buffered: true });
  (function count () { window.__bench.frames++; requestAnimationFrame(count) })();
`

if (!chromiumAvailable()) {
  console.error(`no ${CHROMIUM}: apt-get install chromium`)
  process.exit(1)
}

const cleanup = createCleanup()
const deadline = setTimeout(() => { console.error('benchmark over its time bound'); process.exit(2) }, (60 + SCENARIOS.length * (WARMUP_S + MEASURE_S + 15)) * 1000)

try {
  const db = await startBenchQuestDb(cleanup)
  // gateway and api in one process, the live stream on the in-process bus
  const config = loadConfig({}, {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: 0,
    MQTT_WS_PORT: 0,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: 0,
    DATA_DIR: tempDir(cleanup, 'fleetgate-bench-map-'),
    QUESTDB_HTTP_URL: db.httpUrl,
    QUESTDB_PG_URL: db.pgUrl,
    LOG_LEVEL: 'silent',
    ILP_FLUSH_INTERVAL_MS: 20,
    API_AUTH: 'off',
    MAP_TILE_URL: 'none'
  })
  const log = pino({ level: 'silent' })
  const gw = await runGateway(config, log)
  cleanup.add(() => gw.close())
  const api = await runApi(config, log, { questdb: gw.questdb, live: gw.gateway.live, gatewayReadiness: gw.gateway.readiness, pipeline: gw.gateway.pipeline, registries: [gw.gateway.metrics.registry] })
  cleanup.add(() => api.close())
  const bus = gw.gateway.live

  // the fleet, fed in slices every 50 ms so that each vehicle reports at HZ
  const net = networkForSeed(7)
  const fleet: VehicleState[] = vehicleIds(VEHICLES, 'bench-').map((id, i) => createVehicle(id, i, 7, net))
  const SLICES = 20
  let slice = 0
  const feed = (): void => {
    const now = Date.now()
    for (let i = slice; i < fleet.length; i += SLICES) {
      const v = fleet[i] as VehicleState
      const reading = step(v, 1 / HZ, now)
      bus.publish({ kind: 'telemetry', vehicleId: v.id, items: [{ ...reading, ts: reading.ts as string, vehicle_id: v.id }] })
    }
    slice = (slice + 1) % SLICES
  }
  for (let s = 0; s < SLICES; s++) feed() // every vehicle known before the first page load
  const feeder = setInterval(feed, 1000 / HZ / SLICES)
  cleanup.add(() => clearInterval(feeder))

  const { context, page, close } = await launchChromium({ width: 1280, height: 800 })
  cleanup.add(close)
  await context.addInitScript(PROBE)
  let wsBytes = 0
  let wsFrames = 0
  if (args.cdp) {
    const cdp = await context.newCDPSession(page)
    await cdp.send('Network.enable')
    cdp.on('Network.webSocketFrameReceived', (e: { response: { payloadData: string } }) => { wsBytes += Buffer.byteLength(e.response.payloadData); wsFrames++ })
  }
  const errors: string[] = []
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()) })
  page.on('pageerror', e => { errors.push(String(e)) })

  const resultsDir = new URL('./results/', import.meta.url)
  mkdirSync(resultsDir, { recursive: true })
  const results = []
  for (const [i, sc] of SCENARIOS.entries()) {
    await page.goto(api.url + '/')
    await page.evaluate(`localStorage.setItem('fleetgate.view', ${JSON.stringify(JSON.stringify({ center: sc.center, zoom: sc.zoom }))})`)
    await page.reload()
    await waitForExpression(page, 'window.__fleetgate && window.__fleetgate.live.messages > 1', 30000)
    await page.waitForTimeout(WARMUP_S * 1000)
    const before = await page.evaluate('({ frames: window.__bench.frames, t: performance.now(), live: window.__fleetgate.live })') as { frames: number, t: number, live: { positions: number, bytes: number, messages: number } }
    const bytes0 = wsBytes
    const frames0 = wsFrames
    const drawMs: number[] = []
    const end = Date.now() + MEASURE_S * 1000
    while (Date.now() < end) {
      await page.waitForTimeout(250)
      drawMs.push(await page.evaluate('window.__fleetgate.drawn.ms') as number)
    }
    const after = await page.evaluate('({ frames: window.__bench.frames, t: performance.now(), live: window.__fleetgate.live, drawn: window.__fleetgate.drawn, longtasks: window.__bench.longtasks })') as {
      frames: number, t: number, live: { positions: number, bytes: number, messages: number, parseMsMax: number, handleMsMax: number, applyMsMax: number }, drawn: { vehicles: number, markers: number, clusters: number }, longtasks: Array<[number, number]>
    }
    await page.screenshot({ path: fileURLToPath(new URL(`map-${i + 1}.png`, resultsDir)) })
    const seconds = (after.t - before.t) / 1000
    const tasks = after.longtasks.filter(([start]) => start >= before.t).map(([, d]) => d)
    results.push({
      scenario: sc.name,
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 10) / 10,
      zoom: sc.zoom,
      vehicles_in_view: after.drawn.vehicles,
      markers_drawn: after.drawn.markers,
      clusters_drawn: after.drawn.clusters,
      fps: Math.round((after.frames - before.frames) / seconds * 10) / 10,
      longest_task_ms: tasks.length ? Math.round(Math.max(...tasks)) : 0,
      long_tasks: tasks.length,
      long_task_ms_total: Math.round(tasks.reduce((a, b) => a + b, 0)),
      // in the worker, off the main thread
      worker_json_parse_ms_max: Math.round(after.live.parseMsMax),
      worker_batch_ms_max: Math.round(after.live.handleMsMax),
      // on the main thread: merging one batch into the fleet
      main_apply_ms_max: Math.round(after.live.applyMsMax * 10) / 10,
      draw_ms_max_sampled: Math.round(Math.max(...drawMs) * 10) / 10,
      // JSON text is ASCII here (ids match [A-Za-z0-9_-]), so characters are bytes
      live_bytes_per_s: Math.round((after.live.bytes - before.live.bytes) / seconds),
      live_messages_per_s: Math.round((after.live.messages - before.live.messages) / seconds * 10) / 10,
      ...(args.cdp ? { cdp_frame_bytes_per_s: Math.round((wsBytes - bytes0) / seconds), cdp_frames_per_s: Math.round((wsFrames - frames0) / seconds * 10) / 10 } : {}),
      positions_per_s: Math.round((after.live.positions - before.live.positions) / seconds)
    })
  }
  const report = {
    bench: 'map',
    at: new Date().toISOString(),
    vehicles: VEHICLES,
    hz: HZ,
    max_hz: 1,
    warmup_s: WARMUP_S,
    measure_s: MEASURE_S,
    chromium: CHROMIUM,
    cdp_byte_count: args.cdp,
    cpus: cpus().length,
    headless: true,
    console_errors: errors,
    note: 'one headless Chromium (--disable-gpu, software raster) on a 2-core machine shared with other engineers; the api, the feeder and the browser share those cores',
    results
  }
  const out = JSON.stringify(report, null, 2)
  console.log(out)
  writeFileSync(new URL(`map-${Date.now()}.json`, resultsDir), out + '\n')
} finally {
  clearTimeout(deadline)
  await cleanup.run()
}
