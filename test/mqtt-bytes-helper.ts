// Raw MQTT 3.1.1 packets for conformance tests: built from their fields so a
// test reads as the specification does, and a raw socket exchange.
import { connect } from 'node:net'

function str (s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

/** Remaining length as MQTT encodes it (2.2.3). */
export function remainingLength (n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

export function packet (first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(body.length), body])
}

export interface ConnectFields {
  clientId?: string | Buffer
  username?: string | Buffer
  password?: string | Buffer
  will?: { topic: string | Buffer, payload: string | Buffer, qos?: number, retain?: boolean }
  clean?: boolean
  /** Connect flags to force, whatever the fields say. */
  flags?: number
  protocol?: string
  level?: number
}

export function connectPacket (f: ConnectFields): Buffer {
  let flags = f.clean === false ? 0 : 0x02
  const payload = [str(f.clientId ?? '')]
  if (f.will) {
    flags |= 0x04 | ((f.will.qos ?? 0) << 3) | (f.will.retain ? 0x20 : 0)
    payload.push(str(f.will.topic), str(f.will.payload))
  }
  if (f.username !== undefined) { flags |= 0x80; payload.push(str(f.username)) }
  if (f.password !== undefined) { flags |= 0x40; payload.push(str(f.password)) }
  if (f.flags !== undefined) flags = f.flags
  const header = Buffer.concat([str(f.protocol ?? 'MQTT'), Buffer.from([f.level ?? 4, flags, 0, 60])])
  return packet(0x10, Buffer.concat([header, ...payload]))
}

export function publishPacket (topic: string | Buffer, payload: string | Buffer, opts: { qos?: number, id?: number, dup?: boolean, retain?: boolean } = {}): Buffer {
  const qos = opts.qos ?? 0
  const first = 0x30 | (opts.dup ? 0x08 : 0) | (qos << 1) | (opts.retain ? 1 : 0)
  const id = Buffer.alloc(qos > 0 ? 2 : 0)
  if (qos > 0) id.writeUInt16BE(opts.id ?? 1)
  return packet(first, Buffer.concat([str(topic), id, Buffer.from(payload)]))
}

export function subscribePacket (filters: Array<string | Buffer>, id = 1, qos = 0): Buffer {
  const idb = Buffer.alloc(2)
  idb.writeUInt16BE(id)
  return packet(0x82, Buffer.concat([idb, ...filters.flatMap(f => [str(f), Buffer.from([qos])])]))
}

export function unsubscribePacket (filters: Array<string | Buffer>, id = 1): Buffer {
  const idb = Buffer.alloc(2)
  idb.writeUInt16BE(id)
  return packet(0xa2, Buffer.concat([idb, ...filters.map(f => str(f))]))
}

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

export interface Exchange {
  /** Everything the server sent. */
  reply: Buffer
  /** The server closed the connection within the wait. */
  closed: boolean
}

/**
 * Sends `bytes` on a fresh connection (after `before`, whose answer is
 * awaited first) and collects what comes back until the server closes or
 * `waitMs` pass.
 */
export async function exchange (port: number, bytes: Buffer, opts: { before?: Buffer, waitMs?: number } = {}): Promise<Exchange> {
  const sock = connect(port, '127.0.0.1')
  sock.on('error', () => {})
  const chunks: Buffer[] = []
  let closed = false
  sock.on('data', c => chunks.push(c))
  const closing = new Promise<void>(resolve => sock.once('close', () => { closed = true; resolve() }))
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  if (opts.before) {
    sock.write(opts.before)
    const deadline = Date.now() + 5000
    while (chunks.length === 0 && !closed && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    chunks.length = 0
  }
  if (!closed) sock.write(bytes)
  await Promise.race([closing, new Promise(resolve => setTimeout(resolve, opts.waitMs ?? 1500))])
  sock.destroy()
  return { reply: Buffer.concat(chunks), closed }
}

/** A gateway and api on a real QuestDB, one vehicle with its token, and the MQTT port for raw sockets. */
export async function stackWithVehicle (t: import('tap').Test, id: string): Promise<{ stack: import('./helper.js').Stack, token: string, port: number }> {
  const { startQuestDbForTest, startStack, issueTokens } = await import('./helper.js')
  const db = await startQuestDbForTest(t)
  const stack = await startStack(t, db)
  const token = issueTokens(stack.config.DATA_DIR, [id]).get(id) as string
  return { stack, token, port: Number(new URL(stack.mqttUrl).port) }
}
