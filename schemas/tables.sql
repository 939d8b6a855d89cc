-- QuestDB DDL, applied by the gateway at start (idempotent). One statement per
-- block, separated by a line holding only ';'. The TTL comes from RETENTION_DAYS
-- and is applied afterwards with ALTER TABLE ... SET TTL. Rejections and status
-- rows are keyed by a received time strictly increasing within one process and
-- by that process (`origin`: node, worker), so two gateways cannot make the same
-- key while a spool replay upserts, never doubles. The ALTERs at the end bring
-- tables made before `origin` existed to the same keys (both are idempotent).

CREATE TABLE IF NOT EXISTS readings (
  ts TIMESTAMP,
  vehicle_id SYMBOL CAPACITY 16384 CACHE,
  seq LONG,
  lat DOUBLE,
  lon DOUBLE,
  speed_kmh DOUBLE,
  heading_deg DOUBLE,
  alt_m DOUBLE,
  odometer_km DOUBLE,
  fuel_pct DOUBLE,
  engine_temp_c DOUBLE,
  battery_v DOUBLE,
  rpm INT,
  ignition BOOLEAN,
  received_at TIMESTAMP
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, vehicle_id)
;
CREATE TABLE IF NOT EXISTS events (
  ts TIMESTAMP,
  vehicle_id SYMBOL CAPACITY 16384 CACHE,
  type SYMBOL CAPACITY 32 CACHE,
  lat DOUBLE,
  lon DOUBLE,
  data VARCHAR,
  received_at TIMESTAMP
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, vehicle_id, type)
;
CREATE TABLE IF NOT EXISTS vehicle_status (
  ts TIMESTAMP,
  vehicle_id SYMBOL CAPACITY 16384 CACHE,
  origin SYMBOL CAPACITY 256 CACHE,
  online BOOLEAN
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, vehicle_id, origin)
;
CREATE TABLE IF NOT EXISTS rejections (
  ts TIMESTAMP,
  vehicle_id SYMBOL CAPACITY 16384 CACHE,
  topic VARCHAR,
  reason SYMBOL CAPACITY 16 CACHE,
  origin SYMBOL CAPACITY 256 CACHE,
  detail VARCHAR,
  payload VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, vehicle_id, origin)
;
ALTER TABLE vehicle_status ADD COLUMN IF NOT EXISTS origin SYMBOL CAPACITY 256 CACHE
;
ALTER TABLE vehicle_status DEDUP ENABLE UPSERT KEYS(ts, vehicle_id, origin)
;
ALTER TABLE rejections ADD COLUMN IF NOT EXISTS origin SYMBOL CAPACITY 256 CACHE
;
ALTER TABLE rejections DEDUP ENABLE UPSERT KEYS(ts, vehicle_id, origin)
;
-- Alerts raised at ingest (geofences): ts is the raising reading's time, so a
-- replay of the spool or a redelivered publish upserts the same row.
CREATE TABLE IF NOT EXISTS alerts (
  ts TIMESTAMP,
  vehicle_id SYMBOL CAPACITY 16384 CACHE,
  type SYMBOL CAPACITY 32 CACHE,
  geofence_id SYMBOL CAPACITY 16384 CACHE,
  geofence_name VARCHAR,
  lat DOUBLE,
  lon DOUBLE,
  speed_kmh DOUBLE,
  received_at TIMESTAMP,
  acked_by SYMBOL CAPACITY 1024 CACHE,
  acked_at TIMESTAMP
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, vehicle_id, geofence_id, type)
;
