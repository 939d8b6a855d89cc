// Geofencing in one gateway process: the followed geofence store, the
// evaluator with its state (loaded at start, saved while it changes and at
// close), and the alerts' ILP lines. `alertsOf` never throws: a geofence that
// makes evaluation fail is counted and logged, and the reading still goes in.
import { join } from 'node:path'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { ReadingRow } from '../ingest/to-rows.js'
import { openGeofenceStore, type GeofenceStore } from './geofence-store.js'
import { createGeofenceEvaluator, type AlertRow } from './geofence-evaluator.js'
import { geofenceStateDir, loadGeofenceState, saveGeofenceState } from './geofence-state-file.js'

export interface GeofencingOptions {
  dataDir: string
  /** GEOFENCE_MAX_VERTICES */
  maxVertices: number
  /** GEOFENCE_DWELL_S */
  dwellS: number
  /** Names this process's state file (a worker's spool folder name). */
  name: string
  log: Logger
  registry?: Registry
  /** How often the state is saved while it changes. */
  saveIntervalMs?: number
}

export interface Geofencing {
  store: GeofenceStore
  /** The alerts raised by one payload's accepted readings (all of one vehicle). */
  alertsOf: (readings: readonly ReadingRow[]) => AlertRow[]
  close: () => void
}

export function createGeofencing (opts: GeofencingOptions): Geofencing {
  const { log } = opts
  const store = openGeofenceStore(opts.dataDir, { maxVertices: opts.maxVertices })
  store.watch()
  const dir = geofenceStateDir(opts.dataDir)
  const stateFile = join(dir, `state-${opts.name.replace(/[^A-Za-z0-9_-]/g, '_')}.json`)
  const evaluator = createGeofenceEvaluator({ index: () => store.index(), dwellS: opts.dwellS, state: loadGeofenceState(dir) })
  const r = opts.registry ? { registers: [opts.registry] } : { registers: [] }
  const errors = new Counter({ name: 'fleetgate_geofence_errors_total', help: 'Payloads whose geofence evaluation failed (their readings were stored, without alerts)', ...r })
  const raised = new Counter({ name: 'fleetgate_alerts_total', help: 'Alerts raised at ingest, by type', labelNames: ['type'], ...r })
  const late = new Counter({ name: 'fleetgate_geofence_late_readings_total', help: 'Readings not used for geofence crossings because they were not newer than their vehicle\'s latest', ...r })
  // every worker holds all of them: summing the workers' gauges would multiply them
  // eslint-disable-next-line no-new
  new Gauge({ name: 'fleetgate_geofences', help: 'Geofences in the gateway\'s index', aggregator: 'max', ...r, collect () { this.set(store.index().size) } })

  function save (): void {
    if (!evaluator.takeDirty()) return
    try {
      saveGeofenceState(stateFile, evaluator.state)
    } catch (err) {
      log.error({ err, file: stateFile }, 'geofence state not saved')
    }
  }
  const timer = setInterval(save, opts.saveIntervalMs ?? 1000)
  timer.unref()

  return {
    store,
    alertsOf (readings) {
      const lateBefore = evaluator.late()
      try {
        const alerts = evaluator.evaluate(readings)
        for (const a of alerts) raised.inc({ type: a.type })
        if (evaluator.late() > lateBefore) late.inc(evaluator.late() - lateBefore)
        return alerts
      } catch (err) {
        errors.inc()
        log.error({ err, vehicleId: readings[0]?.vehicleId }, 'geofence evaluation failed')
        return []
      }
    },
    close () {
      clearInterval(timer)
      store.close()
      save()
    }
  }
}
