// The gateway's ILP encoder: the same bytes as the official client's
// SenderBufferV1 or SenderBufferV2 (benchmarks/peers/ilp-client-encoder.ts),
// built without a Buffer.write per token, a capacity check and a column-name
// validation on every column of every row. The test proves the output
// byte-identical on the hostile fixtures; its cost per row against the
// official client's is measured by `npm run bench -- encoder`.
//
// ILP text rules kept here (QuestDB docs, "ILP overview: syntax"): in table
// names, symbol names/values and column names, space, comma, equals sign,
// newline, carriage return and backslash are escaped with a backslash; in
// string values (quoted) the double quote, newline, carriage return and
// backslash are. NaN and Infinity are refused (the official buffers would
// write them). Integers end in `i`, booleans are `t`/`f`, a timestamp column
// is microseconds with `t`.
//
// Protocol 1 (any QuestDB): doubles are JavaScript's shortest round-trip
// text, the designated timestamp nanoseconds. The lines are built as one
// string and encoded to UTF-8 once.
// Protocol 2 (QuestDB 9.0 and later): a double is `==`, the type byte 16 and
// its 8 bytes little-endian, so neither side turns it into text and back; the
// designated timestamp is microseconds with `t`. The bytes go straight into a
// scratch buffer that grows as needed, and each call returns a copy.
import type { Rows } from '../ingest/to-rows.js'
import type { IlpEncoder } from '../ingest/pipeline.js'
import type { IlpProtocolVersion } from './tables.js'
import { GW_ERR_ILP_ENCODE } from '../errors.js'
import { FLOAT_FIELDS } from '../../../schemas/reading-fields.js'

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

const NEEDS_NAME_ESCAPE = /[ ,=\n\r\\]/
const NAME_ESCAPE = /[ ,=\n\r\\]/g
const NEEDS_STRING_ESCAPE = /["\n\r\\]/
const STRING_ESCAPE = /["\n\r\\]/g

function name (s: string): string {
  return NEEDS_NAME_ESCAPE.test(s) ? s.replace(NAME_ESCAPE, '\\$&') : s
}

function str (s: string): string {
  return NEEDS_STRING_ESCAPE.test(s) ? s.replace(STRING_ESCAPE, '\\$&') : s
}

function float (v: number): string {
  if (!Number.isFinite(v)) throw new GW_ERR_ILP_ENCODE(`not a finite number: ${v}`)
  return String(v)
}

function int (v: number): string {
  if (!Number.isSafeInteger(v)) throw new GW_ERR_ILP_ENCODE(`not an integer: ${v}`)
  return String(v)
}

/** Microseconds (a safe integer) to the ILP designated-timestamp nanoseconds text. */
function nanos (us: number): string {
  return int(us) + '000'
}

/** Where the rows' tokens go: the only part that differs between the two protocols. */
interface LineSink {
  /** Text, escaped already. */
  text: (s: string) => void
  /** A double column: its prefix (` name=` or `,name=`) and its value. */
  double: (prefix: string, v: number) => void
  /** The designated timestamp, which closes the row. */
  at: (us: number) => void
  /** Forgets what was written (also what a refused row left half written). */
  reset: () => void
  /** The bytes of everything written since reset(). */
  take: () => Buffer
}

// ` name=` and `,name=` of every double column
const FLOAT_PREFIX = FLOAT_FIELDS.map(f => [' ' + f + '=', ',' + f + '='] as const)

/** `origin`: the `,origin=<symbol>` of status and rejection lines, or '' (see ilp-encoder.ts). */
function writeRows (rows: Rows, w: LineSink, origin: string): void {
  for (const row of rows.readings) {
    const r = row.reading
    w.text('readings,vehicle_id=' + name(row.vehicleId))
    let sep = ' '
    if (r.seq !== undefined) { w.text(sep + 'seq=' + int(r.seq) + 'i'); sep = ',' }
    for (let i = 0; i < FLOAT_FIELDS.length; i++) {
      const v = r[FLOAT_FIELDS[i] as typeof FLOAT_FIELDS[number]]
      if (v !== undefined) { w.double((FLOAT_PREFIX[i] as readonly [string, string])[sep === ' ' ? 0 : 1], v); sep = ',' }
    }
    if (r.rpm !== undefined) { w.text(sep + 'rpm=' + int(r.rpm) + 'i'); sep = ',' }
    if (r.ignition !== undefined) { w.text(sep + 'ignition=' + (r.ignition ? 't' : 'f')); sep = ',' }
    w.text(sep + 'received_at=' + int(row.receivedUs) + 't')
    w.at(row.tsUs)
  }
  for (const row of rows.events) {
    const e = row.event
    w.text('events,vehicle_id=' + name(row.vehicleId) + ',type=' + name(e.type))
    let sep = ' '
    if (e.lat !== undefined) { w.double(sep + 'lat=', e.lat); sep = ',' }
    if (e.lon !== undefined) { w.double(sep + 'lon=', e.lon); sep = ',' }
    if (row.data !== null) { w.text(sep + 'data="' + str(row.data) + '"'); sep = ',' }
    w.text(sep + 'received_at=' + int(row.receivedUs) + 't')
    w.at(row.tsUs)
  }
  for (const row of rows.status) {
    w.text('vehicle_status,vehicle_id=' + name(row.vehicleId) + origin + ' online=' + (row.online ? 't' : 'f'))
    w.at(row.tsUs)
  }
  for (const row of rows.rejections) {
    w.text('rejections,vehicle_id=' + name(row.vehicleId) + ',reason=' + name(row.reason) + origin +
      ' topic="' + str(row.topic) + '",detail="' + str(row.detail) + '",payload="' + str(row.payload) + '"')
    w.at(row.receivedUs)
  }
}

export function createFastIlpEncoder (opts: IlpEncoderOptions = {}): IlpEncoder {
  const sink = opts.protocolVersion === 2 ? binarySink() : textSink()
  const origin = opts.origin === undefined ? '' : ',origin=' + name(opts.origin)
  return {
    encode (rows) {
      if (rows.readings.length + rows.events.length + rows.status.length + rows.rejections.length === 0) return null
      sink.reset()
      writeRows(rows, sink, origin)
      return sink.take()
    }
  }
}

/** Protocol 1: one string, encoded to UTF-8 once. */
function textSink (): LineSink {
  let out = ''
  return {
    text (s) { out += s },
    double (prefix, v) { out += prefix + float(v) },
    at (us) { out += ' ' + nanos(us) + '\n' },
    reset () { out = '' },
    take: () => Buffer.from(out, 'utf8')
  }
}

const DOUBLE = 16

/** Protocol 2: bytes straight into a scratch buffer that grows as needed; take() copies them out. */
function binarySink (): LineSink {
  let buf = Buffer.allocUnsafe(64 * 1024)
  let pos = 0

  function room (n: number): void {
    if (pos + n <= buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n))
    buf.copy(bigger, 0, 0, pos)
    buf = bigger
  }
  /** Any text, as UTF-8; ASCII byte by byte (names, digits), the rest through Buffer#write. */
  function text (s: string): void {
    const n = s.length
    room(n * 3)
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) { pos += buf.write(s.slice(i), pos, 'utf8'); return }
      buf[pos++] = c
    }
  }
  return {
    text,
    double (prefix, v) {
      if (!Number.isFinite(v)) throw new GW_ERR_ILP_ENCODE(`not a finite number: ${v}`)
      text(prefix)
      room(10)
      buf[pos++] = 0x3d // the second '=' of `name==`
      buf[pos++] = DOUBLE
      pos = buf.writeDoubleLE(v, pos)
    },
    // microseconds with `t`
    at (us) { text(' ' + int(us) + 't\n') },
    reset () { pos = 0 },
    take () {
      const out = Buffer.allocUnsafe(pos)
      buf.copy(out, 0, 0, pos)
      return out
    }
  }
}
