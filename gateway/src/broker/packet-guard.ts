// MQTT 3.1.1 framing and validation of every packet a client sends, on the
// raw bytes, before Aedes parses them. Aedes 1.2 (through mqtt-packet)
// buffers a whole packet before any size check and lets through what the
// specification tells a server to refuse; ill-formed UTF-8 is lost once it is
// decoded, so the checks run here, on the bytes, in one pass per chunk.
//
// A guard only reads: bytes it accepts are handed to Aedes unchanged. Each
// packet costs one look at its fixed header and, for PUBLISH, at its topic and
// packet id (the `guard` case of benchmarks/encoder.bench.ts measures it).
import { isUtf8 } from 'node:buffer'

export interface GuardLimits {
  /** Largest packet before the session is accepted: a CONNECT has an id, credentials and a small Will. */
  connectBytes: number
  /** Largest packet after it: MAX_PAYLOAD_BYTES plus the topic and packet id. */
  packetBytes: number
}

/** Why a connection is closed; `connack` when the protocol asks for a CONNACK first. */
export interface Violation {
  rule: string
  reason: 'malformed' | 'packet_too_large'
  connack?: number
}

export interface PacketGuard {
  /** Looks at the next bytes of the stream; null when all of them may go on. */
  feed: (chunk: Buffer) => Violation | null
}

const CONNECT = 1
const PUBLISH = 3
const PUBACK = 4
const PUBREC = 5
const PUBREL = 6
const PUBCOMP = 7
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10
const PINGREQ = 12
const DISCONNECT = 14

const PLUS = 0x2b
const HASH = 0x23
const SLASH = 0x2f

function malformed (rule: string, connack?: number): Violation {
  return connack === undefined ? { rule, reason: 'malformed' } : { rule, reason: 'malformed', connack }
}

const enum Str { Text, TopicName, TopicFilter }

/**
 * Checks the UTF-8 string at `pos` (two length bytes, then the text) and
 * returns the position after it, or -1 when it is refused: beyond `end`,
 * U+0000 or ill-formed UTF-8 (encoded surrogates included) [MQTT-1.5.3-1]
 * [MQTT-1.5.3-2]; as a topic name, empty [MQTT-4.7.3-1] or with a wildcard
 * [MQTT-3.3.2-2]; as a filter, empty or with a misplaced wildcard
 * [MQTT-4.7.1-2] [MQTT-4.7.1-3].
 */
function string (buf: Buffer, pos: number, end: number, kind: Str): number {
  if (pos + 2 > end) return -1
  const len = buf.readUInt16BE(pos)
  const start = pos + 2
  const stop = start + len
  if (stop > end) return -1
  if (kind !== Str.Text && len === 0) return -1
  let ascii = true
  for (let i = start; i < stop; i++) {
    const b = buf[i] as number
    if (b === 0) return -1
    if (b >= 0x80) ascii = false
    else if (kind === Str.TopicName) {
      if (b === PLUS || b === HASH) return -1
    } else if (kind === Str.TopicFilter) {
      if (b === HASH) {
        // '#' alone or after '/', and last
        if (i !== stop - 1 || (i > start && buf[i - 1] !== SLASH)) return -1
      } else if (b === PLUS) {
        // '+' fills a whole level
        if ((i > start && buf[i - 1] !== SLASH) || (i < stop - 1 && buf[i + 1] !== SLASH)) return -1
      }
    }
  }
  if (!ascii && !isUtf8(buf.subarray(start, stop))) return -1
  return stop
}

function binary (buf: Buffer, pos: number, end: number): number {
  if (pos + 2 > end) return -1
  const stop = pos + 2 + buf.readUInt16BE(pos)
  return stop > end ? -1 : stop
}

/** CONNECT, all of it in buf[pos, end) (3.1). */
function checkConnect (buf: Buffer, flags: number, pos: number, end: number): Violation | null {
  // [MQTT-2.2.2-2] reserved header flags are 0 or the connection is closed
  if (flags !== 0) return malformed('MQTT-2.2.2-2')
  const nameEnd = binary(buf, pos, end)
  if (nameEnd < 0 || nameEnd + 4 > end) return malformed('MQTT-3.1.2-1')
  const name = buf.toString('latin1', pos + 2, nameEnd)
  const level = buf[nameEnd] as number
  // [MQTT-3.1.2-1] another protocol name: close without CONNACK
  if (name !== 'MQTT' && name !== 'MQIsdp') return malformed('MQTT-3.1.2-1')
  // [MQTT-3.1.2-2] an unsupported level: CONNACK 0x01, then close (MQIsdp is 3.1)
  if ((name === 'MQTT' && level !== 4) || (name === 'MQIsdp' && level !== 3)) return malformed('MQTT-3.1.2-2', 1)
  const cf = buf[nameEnd + 1] as number
  // [MQTT-3.1.2-3] the reserved connect flag is zero
  if ((cf & 0x01) !== 0) return malformed('MQTT-3.1.2-3')
  const will = (cf & 0x04) !== 0
  const willQos = (cf >> 3) & 0x03
  const willRetain = (cf & 0x20) !== 0
  const hasPassword = (cf & 0x40) !== 0
  const hasUsername = (cf & 0x80) !== 0
  // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] no Will QoS or Retain without a Will
  if (!will && (willQos !== 0 || willRetain)) return malformed('MQTT-3.1.2-13')
  // [MQTT-3.1.2-14] Will QoS 3 is not a QoS
  if (willQos === 3) return malformed('MQTT-3.1.2-14')
  // [MQTT-3.1.2-22] a password only with a user name
  if (hasPassword && !hasUsername) return malformed('MQTT-3.1.2-22')
  let p = nameEnd + 4
  const idStart = p
  // [MQTT-3.1.3-4] the client id is a UTF-8 string
  p = string(buf, p, end, Str.Text)
  if (p < 0) return malformed('MQTT-3.1.3-4')
  if (will) {
    // the Will topic is a topic name: no wildcards, well-formed UTF-8
    p = string(buf, p, end, Str.TopicName)
    if (p < 0) return malformed('MQTT-3.1.3-10')
    p = binary(buf, p, end)
    if (p < 0) return malformed('MQTT-3.1.3-10')
  }
  if (hasUsername) {
    // [MQTT-3.1.3-11] the user name is a UTF-8 string
    p = string(buf, p, end, Str.Text)
    if (p < 0) return malformed('MQTT-3.1.3-11')
  }
  if (hasPassword) {
    p = binary(buf, p, end)
    if (p < 0) return malformed('MQTT-3.1.3-11')
  }
  // what the flags announce fills the packet exactly (4.8: a malformed packet closes)
  if (p !== end) return malformed('MQTT-4.8.0-1')
  // [MQTT-3.1.3-8] an empty client id asks for a clean session: else CONNACK 0x02, then close
  if (buf.readUInt16BE(idStart) === 0 && (cf & 0x02) === 0) return malformed('MQTT-3.1.3-8', 2)
  return null
}

/** SUBSCRIBE or UNSUBSCRIBE, all of it in buf[pos, end). */
function checkSubscribe (buf: Buffer, type: number, flags: number, pos: number, end: number): Violation | null {
  const sub = type === SUBSCRIBE
  // [MQTT-3.8.1-1] [MQTT-3.10.1-1] header flags 0010
  if (flags !== 0x02) return malformed(sub ? 'MQTT-3.8.1-1' : 'MQTT-3.10.1-1')
  // [MQTT-2.3.1-1] a non-zero packet id
  if (pos + 2 > end || buf.readUInt16BE(pos) === 0) return malformed('MQTT-2.3.1-1')
  let p = pos + 2
  // [MQTT-3.8.3-3] [MQTT-3.10.3-2] at least one filter
  if (p === end) return malformed(sub ? 'MQTT-3.8.3-3' : 'MQTT-3.10.3-2')
  while (p < end) {
    p = string(buf, p, end, Str.TopicFilter)
    if (p < 0) return malformed(sub ? 'MQTT-3.8.3-1' : 'MQTT-3.10.3-1')
    if (sub) {
      // [MQTT-3-8.3-4] requested QoS 0..2, upper bits reserved
      if (p >= end || (buf[p] as number) > 2) return malformed('MQTT-3-8.3-4')
      p++
    }
  }
  return null
}

/**
 * One guard per connection. `connected` tells whether the session has been
 * accepted, which raises the size limit from `connectBytes` to `packetBytes`.
 */
export function createPacketGuard (limits: GuardLimits, connected: () => boolean): PacketGuard {
  let seenConnect = false
  // bytes of the current packet's body that pass without a look
  let skip = 0
  // the start of a packet whose header or checked part is incomplete, in the
  // chunks it arrived in; joined once `want` bytes are here, so a packet
  // trickled byte by byte is not copied again at every byte
  let carry: Buffer[] = []
  let carried = 0
  let want = 0

  function wait (buf: Buffer, from: number, bytes: number): null {
    carry = [buf.subarray(from)]
    carried = buf.length - from
    want = bytes
    return null
  }

  function feed (chunk: Buffer): Violation | null {
    let buf = chunk
    let i = 0
    if (skip > 0) {
      if (skip >= buf.length) {
        skip -= buf.length
        return null
      }
      i = skip
      skip = 0
    }
    if (carried > 0) {
      carry.push(i === 0 ? buf : buf.subarray(i))
      carried += buf.length - i
      if (carried < want) return null
      buf = Buffer.concat(carry, carried)
      carry = []
      carried = 0
      i = 0
    }
    while (i < buf.length) {
      // remaining length: one to four bytes of seven bits (2.2.3)
      let rl = 0
      let mul = 1
      let h = i + 1
      let complete = false
      while (h < buf.length && h - i <= 4) {
        const b = buf[h++] as number
        rl += (b & 0x7f) * mul
        mul *= 128
        if (b < 0x80) { complete = true; break }
      }
      if (!complete) {
        if (h - i > 4) return malformed('MQTT-2.2.3')
        return wait(buf, i, h - i + 1)
      }
      const first = buf[i] as number
      const type = first >> 4
      const flags = first & 0x0f
      const limit = connected() ? limits.packetBytes : limits.connectBytes
      if (rl > limit) return { rule: 'size-limit', reason: 'packet_too_large' }
      const end = h + rl
      // how much of the body must be here before it is judged
      let need = rl
      if (type === PUBLISH) {
        if (buf.length - h < 2) need = Math.min(rl, 2)
        else need = Math.min(rl, 2 + buf.readUInt16BE(h) + 2)
      }
      if (buf.length - h < need) return wait(buf, i, h - i + need)
      const v = check(buf, type, flags, rl, h, end)
      if (v !== null) return v
      if (end <= buf.length) {
        i = end
      } else {
        skip = end - buf.length
        i = buf.length
      }
    }
    return null
  }

  function check (buf: Buffer, type: number, flags: number, rl: number, h: number, end: number): Violation | null {
    if (!seenConnect) {
      // [MQTT-3.1.0-1] the first packet is a CONNECT
      if (type !== CONNECT) return malformed('MQTT-3.1.0-1')
      seenConnect = true
      return checkConnect(buf, flags, h, end)
    }
    switch (type) {
      case PUBLISH: {
        const qos = (flags >> 1) & 0x03
        // [MQTT-3.3.1-4] QoS 3 is not a QoS
        if (qos === 3) return malformed('MQTT-3.3.1-4')
        // [MQTT-3.3.1-2] DUP is 0 for QoS 0
        if (qos === 0 && (flags & 0x08) !== 0) return malformed('MQTT-3.3.1-2')
        const stop = Math.min(end, buf.length)
        const p = string(buf, h, stop, Str.TopicName)
        if (p < 0) return malformed('MQTT-3.3.2-2')
        // [MQTT-2.3.1-1] QoS 1 and 2 carry a non-zero packet id
        if (qos > 0 && (p + 2 > stop || buf.readUInt16BE(p) === 0)) return malformed('MQTT-2.3.1-1')
        return null
      }
      case PUBACK:
      case PUBREC:
      case PUBREL:
      case PUBCOMP:
        // [MQTT-3.6.1-1] PUBREL's flags are 0010, the others' 0000 [MQTT-2.2.2-2]
        if (flags !== (type === PUBREL ? 0x02 : 0)) return malformed('MQTT-2.2.2-2')
        // a remaining length of 2 (3.4.1, 3.5.1, 3.6.1, 3.7.1) and a non-zero id [MQTT-2.3.1-1]
        if (rl !== 2) return malformed('MQTT-4.8.0-1')
        if (buf.readUInt16BE(h) === 0) return malformed('MQTT-2.3.1-1')
        return null
      case SUBSCRIBE:
      case UNSUBSCRIBE:
        return checkSubscribe(buf, type, flags, h, end)
      case PINGREQ:
      case DISCONNECT:
        // no flags [MQTT-2.2.2-2], no variable header or payload (3.12.1, 3.14.1)
        if (flags !== 0) return malformed('MQTT-2.2.2-2')
        if (rl !== 0) return malformed('MQTT-4.8.0-1')
        return null
      case CONNECT:
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation
        return malformed('MQTT-3.1.0-2')
      default:
        // CONNACK, SUBACK, UNSUBACK, PINGRESP go to clients only; 0 and 15 are reserved
        return malformed('MQTT-4.8.0-1')
    }
  }

  return { feed }
}
