// The gateway's one face: what the api, the CLI, the simulator and the tests
// of the whole stack use. Anything not exported here is the gateway's own
// business and may change without them noticing.

// build and run
export { buildGateway, internalToken, boundAddresses, type Gateway, type GatewayDeps, type Readiness } from './gateway.js'
export { runGateway, ensureQuestDb, managedQuestDbPorts, questdbAddressFile, questdbPortsFile, type RunningGateway, type QuestDbAddress } from './main.js'
export { isGatewayWorker, runGatewayWorker, startGatewayWorkers, workerSpoolDir, type GatewayWorkers, type MetricsJson } from './workers.js'
export { startGatewayHttp, type GatewayHttp, type GatewayHttpOptions } from './http.js'
export { createGatewayMetrics, type GatewayMetrics } from './metrics.js'
export type { Addresses, FleetBroker } from './broker/broker.js'

// one ingest path for MQTT publishes and readings POSTed to the api
export { createIngest, countIlpFlush, type Ingest, type IngestDeps } from './ingest.js'
export type { Pipeline, Outcome, DurableSink, IlpEncoder } from './ingest/pipeline.js'
export type { Rows, RejectionRow, ToRows } from './ingest/to-rows.js'
export { ilpProtocolVersion, type IlpProtocolVersion } from './questdb/tables.js'

// the device registry (DATA_DIR/devices.jsonl): tokens for the CLI, the admin API and the simulator
export { openDeviceRegistry, registryPath, issueToken, issueTokenBatch, revokeToken, hasActiveToken, listDevices, type DeviceRegistry, type DeviceRecord } from './broker/device-registry.js'

// scale-out across machines
export { createRedisBus, joinBus, type RedisBus } from './bus/redis-bus.js'
export { openRegistryStream, type RegistryStream } from './bus/registry-stream.js'

// fleet configuration the admin API writes and the gateways follow: geofences, webhooks
export { geofencesFile, openGeofenceStore, deleteGeofence, putGeofence, type GeofenceStore } from './geofences/geofence-store.js'
export { geometryProblem } from './geofences/geometry.js'
export { alertId, parseAlertId, type AlertKey } from './geofences/alert-id.js'
export { webhooksFile, deleteWebhook, readWebhooks, registerWebhook, requestDeadLetterRetry, webhookUrlProblem, withoutSecret } from './webhooks/webhook-registry.js'
export { readDeadLetters } from './webhooks/webhook-queue.js'
export { idempotencyKey } from './webhooks/webhook-attempt.js'
