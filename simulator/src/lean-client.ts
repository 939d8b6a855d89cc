// A lean MQTT 3.1.1 client: mqtt-packet over one socket (TCP, TLS or
// WebSocket), no reconnect logic, no stores. mqtt.js keeps per connection a
// set of streams, timers and stores that make 10,000 connections in one
// process expensive; this keeps only what the simulator measures: CONNACK,
// and for QoS 1 one PUBACK per message id [MQTT-4.3.2], with an in-flight
// window per connection and the messages beyond it queued in order.
import { connect as netConnect, Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Duplex } from 'node:stream'
import mqttPacket, { type Packet } from 'mqtt-packet'
import WebSocket, { createWebSocketStream } from 'ws'

export interface LeanConnectOptions {
  url: string
  clientId: string
  username?: string
  password?: string
  keepaliveS?: number
  will?: { topic: string, payload: string, qos: 0 | 1, retain: boolean }
  /** TLS: accept a self-signed certificate (loopback benchmarks). */
  rejectUnauthorized?: boolean
  connectTimeoutMs?: number
}

export type PublishCallback = (err: Error | null, latencyMs: number) => void

interface Inflight { cb: PublishCallback, t0: number }
interface Queued { topic: string, payload: string | Buffer, cb: PublishCallback }

export class ConnectRefusedError extends Error {
  code = 'SIM_ERR_CONNECT_REFUSED'
  constructor (readonly returnCode: number) { super(`connection refused, CONNACK return code ${returnCode}`) }
}

const GEN_OPTS = { protocolVersion: 4 }
const VARBYTEINT_MAX = 268435455

/**
 * A PUBLISH packet (MQTT 3.1.1), byte for byte what mqtt-packet's generate()
 * makes of { cmd: 'publish', topic, payload, qos, messageId, retain: false,
 * dup: false }, written into one buffer. The simulator sends one per reading;
 * generate() assembles the same bytes from five parts and concatenates them,
 * a buffer per part (npm run bench -- relay: the simulator alone at its
 * target rate, with its CPU).
 */
export function encodePublish (topic: string, payload: string | Buffer, qos: 0 | 1, messageId = 0): Buffer {
  const topicLen = Buffer.byteLength(topic)
  const payloadLen = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
  const remaining = 2 + topicLen + (qos === 1 ? 2 : 0) + payloadLen
  if (topicLen > 65535 || remaining > VARBYTEINT_MAX) throw new RangeError(`PUBLISH too large: topic ${topicLen} bytes, payload ${payloadLen} bytes`)
  const lenBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4
  const buf = Buffer.allocUnsafe(1 + lenBytes + remaining)
  buf[0] = 0x30 | (qos << 1)
  let o = 1
  let n = remaining
  do {
    const digit = n % 128
    n = Math.floor(n / 128)
    buf[o++] = n > 0 ? digit | 0x80 : digit
  } while (n > 0)
  buf[o++] = topicLen >> 8
  buf[o++] = topicLen & 0xff
  o += buf.write(topic, o)
  if (qos === 1) {
    buf[o++] = (messageId >> 8) & 0xff
    buf[o++] = messageId & 0xff
  }
  if (typeof payload === 'string') buf.write(payload, o)
  else payload.copy(buf, o)
  return buf
}

/**
 * The same PUBLISH as a string of latin1 characters (one per byte), or null
 * unless topic and payload are ASCII strings (readings are). A TCP or TLS
 * socket writes such a string from the string itself, with no Buffer per
 * message to allocate, fill and collect.
 */
export function encodePublishLatin1 (topic: string, payload: string, qos: 0 | 1, messageId = 0): string | null {
  // UTF-8 takes more bytes than UTF-16 code units for anything beyond ASCII
  if (Buffer.byteLength(topic) !== topic.length || Buffer.byteLength(payload) !== payload.length) return null
  const remaining = 2 + topic.length + (qos === 1 ? 2 : 0) + payload.length
  if (topic.length > 65535 || remaining > VARBYTEINT_MAX) throw new RangeError(`PUBLISH too large: topic ${topic.length} bytes, payload ${payload.length} bytes`)
  let head = remaining < 128
    ? String.fromCharCode(0x30 | (qos << 1), remaining)
    : remaining < 16384
      ? String.fromCharCode(0x30 | (qos << 1), (remaining % 128) | 0x80, remaining >> 7)
      : String.fromCharCode(0x30 | (qos << 1), (remaining % 128) | 0x80, ((remaining >> 7) % 128) | 0x80) +
        (remaining < 2097152 ? String.fromCharCode(remaining >> 14) : String.fromCharCode(((remaining >> 14) % 128) | 0x80, remaining >> 21))
  head += String.fromCharCode(topic.length >> 8, topic.length & 0xff) + topic
  if (qos === 1) head += String.fromCharCode((messageId >> 8) & 0xff, messageId & 0xff)
  return head + payload
}

function openStream (url: URL, rejectUnauthorized: boolean): Duplex {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  switch (url.protocol) {
    case 'mqtt:':
    case 'tcp:':
      return netConnect({ host, port: Number(url.port || 1883), noDelay: true })
    case 'mqtts:':
    case 'ssl:':
    case 'tls:':
      return tlsConnect({ host, port: Number(url.port || 8883), rejectUnauthorized, servername: host })
    case 'ws:':
    case 'wss:': {
      const ws = new WebSocket(url, ['mqtt'], { rejectUnauthorized, perMessageDeflate: false })
      return createWebSocketStream(ws)
    }
    default:
      throw new Error(`unsupported MQTT URL scheme ${url.protocol}`)
  }
}

export class LeanClient {
  connected = false
  private stream: Duplex | null = null
  private readonly inflight = new Map<number, Inflight>()
  private readonly queue: Queued[] = []
  private nextId = 1
  private lastWrite = 0
  private closing = false
  /** TCP or TLS: PUBLISH packets go out as latin1 strings when they can (encodePublishLatin1). */
  private latin1 = false
  onMessage: ((topic: string, payload: Buffer) => void) | null = null
  onClose: ((err: Error | null) => void) | null = null

  constructor (readonly window = 1) {}

  /** Messages sent and not yet acknowledged. */
  inflightCount (): number { return this.inflight.size }
  queuedCount (): number { return this.queue.length }
  /** Bytes written by us and not yet handed to the kernel. */
  unsentBytes (): number { return this.stream?.writableLength ?? 0 }
  /** More than maxQueued messages wait, or the socket holds more than 256 KiB unsent. */
  backlogged (maxQueued: number): boolean {
    return this.queue.length >= maxQueued || (this.stream?.writableLength ?? 0) > 262144
  }

  /** Resolves with the CONNACK time in ms; rejects with ConnectRefusedError or a socket error. */
  connect (opts: LeanConnectOptions): Promise<number> {
    const t0 = performance.now()
    const url = new URL(opts.url)
    this.closing = false
    return new Promise((resolve, reject) => {
      let settled = false
      const stream = openStream(url, opts.rejectUnauthorized ?? true)
      this.stream = stream
      this.latin1 = stream instanceof Socket
      const parser = mqttPacket.parser(GEN_OPTS)
      const timer = setTimeout(() => fail(new Error('connect timeout')), opts.connectTimeoutMs ?? 30000)
      const fail = (err: Error): void => {
        clearTimeout(timer)
        if (!settled) { settled = true; stream.destroy(); reject(err) }
      }
      parser.on('packet', (p: Packet) => {
        if (p.cmd === 'connack') {
          clearTimeout(timer)
          if (p.returnCode !== 0) { fail(new ConnectRefusedError(p.returnCode ?? -1)); return }
          this.connected = true
          settled = true
          resolve(performance.now() - t0)
        } else if (p.cmd === 'puback') {
          const m = this.inflight.get(p.messageId as number)
          if (m === undefined) return
          this.inflight.delete(p.messageId as number)
          m.cb(null, performance.now() - m.t0)
          this.pump()
        } else if (p.cmd === 'publish') {
          if (p.qos === 1) this.write({ cmd: 'puback', messageId: p.messageId as number })
          this.onMessage?.(p.topic, typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload as Buffer)
        }
      })
      parser.on('error', err => { stream.destroy(err) })
      stream.on('data', (chunk: Buffer) => parser.parse(chunk))
      stream.on('error', err => fail(err))
      stream.on('close', () => {
        const wasConnected = this.connected
        this.connected = false
        const err = new Error('connection closed')
        // the rest never gets its PUBACK on this connection
        for (const m of this.inflight.values()) m.cb(err, 0)
        this.inflight.clear()
        for (const q of this.queue.splice(0)) q.cb(err, 0)
        if (!settled) fail(err)
        else if (wasConnected) this.onClose?.(this.closing ? null : err)
      })
      const connectPacket: Packet = {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: opts.clientId,
        keepalive: opts.keepaliveS ?? 60,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: Buffer.from(opts.password) } : {}),
        ...(opts.will ? { will: { ...opts.will, payload: Buffer.from(opts.will.payload) } } : {})
      }
      stream.write(mqttPacket.generate(connectPacket, GEN_OPTS))
      this.lastWrite = Date.now()
    })
  }

  private write (p: Packet, done?: (err?: Error | null) => void): void {
    this.stream?.write(mqttPacket.generate(p, GEN_OPTS), done)
    this.lastWrite = Date.now()
  }

  /**
   * QoS 0: cb once the bytes left this process (handed to the kernel), so a
   * run that ends with data still queued here does not count it as sent.
   * QoS 1: cb once PUBACKed.
   */
  publish (topic: string, payload: string | Buffer, qos: 0 | 1, cb: PublishCallback): void {
    if (!this.connected) { cb(new Error('not connected'), 0); return }
    if (qos === 0) {
      this.writePublish(topic, payload, 0, 0, err => cb(err ?? null, 0))
      return
    }
    this.queue.push({ topic, payload, cb })
    this.pump()
  }

  private writePublish (topic: string, payload: string | Buffer, qos: 0 | 1, messageId: number, done?: (err?: Error | null) => void): void {
    const packet = this.latin1 && typeof payload === 'string' ? encodePublishLatin1(topic, payload, qos, messageId) : null
    if (packet !== null) this.stream?.write(packet, 'latin1', done)
    else this.stream?.write(encodePublish(topic, payload, qos, messageId), done)
    this.lastWrite = Date.now()
  }

  private pump (): void {
    while (this.connected && this.queue.length > 0 && this.inflight.size < this.window) {
      const q = this.queue.shift() as Queued
      let id = this.nextId
      while (this.inflight.has(id)) id = id >= 65535 ? 1 : id + 1
      this.nextId = id >= 65535 ? 1 : id + 1
      this.inflight.set(id, { cb: q.cb, t0: performance.now() })
      this.writePublish(q.topic, q.payload, 1, id)
    }
  }

  subscribe (topic: string, qos: 0 | 1): void {
    this.write({ cmd: 'subscribe', messageId: 65535, subscriptions: [{ topic, qos }] })
  }

  /** Called now and then by the owner: a PINGREQ when nothing was written for half the keepalive. */
  keepalive (keepaliveS: number): void {
    if (this.connected && Date.now() - this.lastWrite > keepaliveS * 500) this.write({ cmd: 'pingreq' })
  }

  /** DISCONNECT and close; what is still in flight fails. */
  end (): Promise<void> {
    const s = this.stream
    if (!s || s.destroyed || this.closing) return Promise.resolve()
    this.closing = true
    return new Promise(resolve => {
      s.once('close', () => resolve())
      // end() flushes what is still queued here before the FIN; destroy() would drop it
      if (this.connected) { this.write({ cmd: 'disconnect' }); s.end() } else s.destroy()
      setTimeout(() => s.destroy(), 30000).unref()
    })
  }

  destroy (): void { this.stream?.destroy() }
}
