// Rows to ILP text through the official client's own line encoder, so that
// escaping of symbols, strings and names is the client's, not ours: the peer
// that the gateway's hand-written encoder is checked against
// (gateway/test/questdb/ilp-fast-encoder.test.ts) and measured beside
// (`npm run bench -- encoder`). Not product code: the client is a dev dependency.
import { createBuffer, SenderOptions, type SenderBuffer } from '@questdb/nodejs-client'
import type { IlpEncoder, IlpProtocolVersion, Rows } from '../../gateway/src/index.js'
import { FLOAT_FIELDS } from '../../schemas/reading-fields.js'

export interface IlpEncoderOptions {
  protocolVersion?: IlpProtocolVersion
  /**
   * The writing process (node, worker), a symbol of every status and rejection
   * row: those are keyed by a received time that is unique only within one
   * process, so the origin in their DEDUP keys keeps two processes' rows
   * apart, while a replay of the same lines still upserts.
   */
  origin?: string
}

export function createIlpEncoder (opts: IlpEncoderOptions = {}): IlpEncoder {
  // protocol_version is fixed so nothing asks a server for it
  const buf: SenderBuffer = createBuffer(new SenderOptions(`http::addr=127.0.0.1:9000;protocol_version=${opts.protocolVersion ?? 1};init_buf_size=65536;max_buf_size=268435456`))

  function encode (rows: Rows): Buffer | null {
    const n = rows.readings.length + rows.events.length + rows.status.length + rows.rejections.length
    if (n === 0) return null
    buf.reset()
    for (const row of rows.readings) {
      const r = row.reading
      buf.table('readings').symbol('vehicle_id', row.vehicleId)
      if (r.seq !== undefined) buf.intColumn('seq', r.seq)
      for (const f of FLOAT_FIELDS) {
        const v = r[f]
        if (v !== undefined) buf.floatColumn(f, v)
      }
      if (r.rpm !== undefined) buf.intColumn('rpm', r.rpm)
      if (r.ignition !== undefined) buf.booleanColumn('ignition', r.ignition)
      buf.timestampColumn('received_at', BigInt(row.receivedUs), 'us')
      buf.at(BigInt(row.tsUs), 'us')
    }
    for (const row of rows.events) {
      const e = row.event
      buf.table('events').symbol('vehicle_id', row.vehicleId).symbol('type', e.type)
      if (e.lat !== undefined) buf.floatColumn('lat', e.lat)
      if (e.lon !== undefined) buf.floatColumn('lon', e.lon)
      if (row.data !== null) buf.stringColumn('data', row.data)
      buf.timestampColumn('received_at', BigInt(row.receivedUs), 'us')
      buf.at(BigInt(row.tsUs), 'us')
    }
    for (const row of rows.status) {
      buf.table('vehicle_status').symbol('vehicle_id', row.vehicleId)
      if (opts.origin !== undefined) buf.symbol('origin', opts.origin)
      buf.booleanColumn('online', row.online)
      buf.at(BigInt(row.tsUs), 'us')
    }
    for (const row of rows.rejections) {
      buf.table('rejections').symbol('vehicle_id', row.vehicleId).symbol('reason', row.reason)
      if (opts.origin !== undefined) buf.symbol('origin', opts.origin)
      buf.stringColumn('topic', row.topic).stringColumn('detail', row.detail).stringColumn('payload', row.payload)
      buf.at(BigInt(row.receivedUs), 'us')
    }
    return buf.toBufferNew()
  }
  return { encode }
}
