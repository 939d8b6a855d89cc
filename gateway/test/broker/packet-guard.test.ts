// The packet guard on its own: each normative statement it enforces, with the
// bytes a client would send, fed whole, byte by byte and in two pieces.
import t, { type Test } from 'tap'
import { createPacketGuard, type Violation } from '../../src/broker/packet-guard.js'
import { connectPacket, publishPacket, subscribePacket, unsubscribePacket, packet, hex } from '../../../test/mqtt-bytes-helper.js'

const limits = { connectBytes: 1024, packetBytes: 262144 + 1028 }
const login = connectPacket({ clientId: 'v1', username: 'v1', password: 'fgt_x' })

/** The verdict on a stream, fed in pieces of `step` bytes (0: whole). */
function judge (bytes: Buffer, step = 0, connected = true): Violation | null {
  let loggedIn = false
  const guard = createPacketGuard(limits, () => connected && loggedIn)
  const first = guard.feed(login)
  if (first !== null) return first
  loggedIn = true
  if (step === 0) return guard.feed(bytes)
  for (let i = 0; i < bytes.length; i += step) {
    const v = guard.feed(bytes.subarray(i, i + step))
    if (v !== null) return v
  }
  return null
}

/** Same verdict whichever way the bytes are cut. */
function verdict (t: Test, bytes: Buffer): Violation | null {
  const whole = judge(bytes)
  t.same(judge(bytes, 1), whole, 'byte by byte: same verdict')
  t.same(judge(bytes, Math.max(1, bytes.length >> 1)), whole, 'in two pieces: same verdict')
  return whole
}

function connectVerdict (bytes: Buffer): Violation | null {
  const guard = createPacketGuard(limits, () => false)
  const v = guard.feed(bytes)
  let w: Violation | null = null
  const g2 = createPacketGuard(limits, () => false)
  for (const b of bytes) { w = g2.feed(Buffer.from([b])); if (w) break }
  return JSON.stringify(v) === JSON.stringify(w) ? v : { rule: 'chunking changed the verdict', reason: 'malformed' }
}

t.test('CONNECT', async t => {
  t.equal(connectVerdict(login), null, 'a valid CONNECT passes')
  t.equal(connectVerdict(connectPacket({ clientId: 'v1', protocol: 'MQIsdp', level: 3 })), null, 'MQTT 3.1 passes')
  const cases: Array<[string, Buffer, string, number?]> = [
    ['reserved flag set', connectPacket({ clientId: 'v1', flags: 0x03 }), 'MQTT-3.1.2-3'],
    ['Will QoS 3', connectPacket({ clientId: 'v1', will: { topic: 'fleet/v1/status', payload: 'offline', qos: 3 } }), 'MQTT-3.1.2-14'],
    ['Will QoS without Will flag', connectPacket({ clientId: 'v1', flags: 0x02 | 0x08 }), 'MQTT-3.1.2-13'],
    ['Will Retain without Will flag', connectPacket({ clientId: 'v1', flags: 0x02 | 0x20 }), 'MQTT-3.1.2-13'],
    ['password without user name', connectPacket({ clientId: 'v1', flags: 0x02 | 0x40 }), 'MQTT-3.1.2-22'],
    ['U+0000 in the client id', connectPacket({ clientId: 'v\0' }), 'MQTT-3.1.3-4'],
    ['an encoded surrogate (ED A0 80) in the client id', connectPacket({ clientId: hex('76eda080') }), 'MQTT-3.1.3-4'],
    ['an overlong encoding in the user name', connectPacket({ clientId: 'v1', username: hex('c080'), password: 'x' }), 'MQTT-3.1.3-11'],
    ['U+0000 in the Will topic', connectPacket({ clientId: 'v1', will: { topic: 'fleet/v1/st\0atus', payload: 'offline' } }), 'MQTT-3.1.3-10'],
    ['ill-formed UTF-8 in the Will topic', connectPacket({ clientId: 'v1', will: { topic: hex('666c656574eda080'), payload: 'offline' } }), 'MQTT-3.1.3-10'],
    ['a wildcard in the Will topic', connectPacket({ clientId: 'v1', will: { topic: 'fleet/+/status', payload: 'offline' } }), 'MQTT-3.1.3-10'],
    ['another protocol name', connectPacket({ clientId: 'v1', protocol: 'MQTX' }), 'MQTT-3.1.2-1'],
    ['protocol level 2', connectPacket({ clientId: 'v1', level: 2 }), 'MQTT-3.1.2-2', 1],
    ['protocol level 6', connectPacket({ clientId: 'v1', level: 6 }), 'MQTT-3.1.2-2', 1],
    ['protocol level 5', connectPacket({ clientId: 'v1', level: 5 }), 'MQTT-3.1.2-2', 1],
    ['empty client id, clean session 0', connectPacket({ clientId: '', clean: false }), 'MQTT-3.1.3-8', 2],
    ['bytes beyond the announced fields', packet(0x10, Buffer.concat([connectPacket({ clientId: 'v1' }).subarray(2), Buffer.from('xx')])), 'MQTT-4.8.0-1'],
    ['header flags set', packet(0x11, connectPacket({ clientId: 'v1' }).subarray(2)), 'MQTT-2.2.2-2'],
    ['a PUBLISH first', publishPacket('fleet/v1/telemetry', '{}'), 'MQTT-3.1.0-1']
  ]
  for (const [name, bytes, rule, connack] of cases) {
    const v = connectVerdict(bytes)
    t.equal(v?.rule, rule, `${name}: refused [${rule}]`)
    t.equal(v?.connack, connack, connack === undefined ? `${name}: closed without CONNACK` : `${name}: CONNACK ${connack} first`)
  }
  t.equal(connectVerdict(connectPacket({ clientId: '', clean: true })), null, 'empty client id with clean session passes (the broker decides)')
})

t.test('size limits are read from the fixed header', async t => {
  const guard = createPacketGuard(limits, () => false)
  // 268,435,455 bytes announced, five bytes sent
  t.same(guard.feed(hex('10ffffff7f 00044d515454')), { rule: 'size-limit', reason: 'packet_too_large' }, 'a huge CONNECT is refused on its header')
  t.same(createPacketGuard(limits, () => false).feed(hex('10 8108')), { rule: 'size-limit', reason: 'packet_too_large' }, 'a CONNECT above 1 KiB is refused before login')
  t.same(judge(hex('32 ffffff7f')), { rule: 'size-limit', reason: 'packet_too_large' }, 'a huge PUBLISH is refused after login')
  const max = publishPacket('fleet/v1/telemetry', Buffer.alloc(262144, 0x61), { qos: 1 })
  t.equal(verdict(t, max), null, 'a PUBLISH with a payload of MAX_PAYLOAD_BYTES passes')
  t.same(judge(publishPacket('fleet/v1/telemetry', Buffer.alloc(262144 + 1028, 0x61))), { rule: 'size-limit', reason: 'packet_too_large' }, 'beyond it is refused')
  t.same(judge(publishPacket('fleet/v1/telemetry', Buffer.alloc(2000)), 0, false), { rule: 'size-limit', reason: 'packet_too_large' }, 'a PUBLISH before the session is accepted has the CONNECT limit')
})

t.test('PUBLISH', async t => {
  t.equal(verdict(t, Buffer.concat([publishPacket('fleet/v1/telemetry', '{"a":1}', { qos: 1, id: 7 }), publishPacket('fleet/v1/é', 'x')])), null, 'valid publishes pass, UTF-8 included')
  const cases: Array<[string, Buffer, string]> = [
    ['U+0000 in the topic (32 10 0005 746f700000 0001 ...)', hex('3210 0005 746f700000 0001 7061796c6f6164'), 'MQTT-3.3.2-2'],
    ['ill-formed UTF-8 in the topic', publishPacket(hex('666c656574eda080'), 'x'), 'MQTT-3.3.2-2'],
    ['a + wildcard in the topic', publishPacket('fleet/+/telemetry', 'x'), 'MQTT-3.3.2-2'],
    ['a # wildcard in the topic', publishPacket('fleet/#', 'x'), 'MQTT-3.3.2-2'],
    ['an empty topic', publishPacket('', 'x'), 'MQTT-3.3.2-2'],
    ['packet id 0 with QoS 1', publishPacket('fleet/v1/telemetry', 'x', { qos: 1, id: 0 }), 'MQTT-2.3.1-1'],
    ['packet id 0 with QoS 2', publishPacket('fleet/v1/telemetry', 'x', { qos: 2, id: 0 }), 'MQTT-2.3.1-1'],
    ['DUP with QoS 0', publishPacket('fleet/v1/telemetry', 'x', { dup: true }), 'MQTT-3.3.1-2'],
    ['QoS 3', Buffer.concat([Buffer.from([0x36]), publishPacket('fleet/v1/telemetry', 'x', { qos: 1 }).subarray(1)]), 'MQTT-3.3.1-4'],
    ['a topic longer than the packet', hex('3004 0010 6162'), 'MQTT-3.3.2-2'],
    ['no topic at all', hex('3000'), 'MQTT-3.3.2-2']
  ]
  for (const [name, bytes, rule] of cases) t.equal(verdict(t, bytes)?.rule, rule, `${name}: closed [${rule}]`)
})

t.test('SUBSCRIBE and UNSUBSCRIBE', async t => {
  t.equal(verdict(t, subscribePacket(['fleet/v1/#', 'fleet/+/x', '+', '#', 'a/+/b'])), null, 'valid filters pass')
  t.equal(verdict(t, unsubscribePacket(['fleet/v1/#'])), null, 'a valid UNSUBSCRIBE passes')
  const cases: Array<[string, Buffer, string]> = [
    ['SUBSCRIBE without a filter', packet(0x82, hex('0001')), 'MQTT-3.8.3-3'],
    ['UNSUBSCRIBE without a filter', packet(0xa2, hex('0001')), 'MQTT-3.10.3-2'],
    ['U+0000 in a filter', subscribePacket(['fleet/tv1/top\0\0']), 'MQTT-3.8.3-1'],
    ['ill-formed UTF-8 in a filter', subscribePacket([hex('61eda080')]), 'MQTT-3.8.3-1'],
    ['# not last', subscribePacket(['fleet/#/x']), 'MQTT-3.8.3-1'],
    ['# within a level', subscribePacket(['fleet/a#']), 'MQTT-3.8.3-1'],
    ['+ within a level', subscribePacket(['fleet/a+/x']), 'MQTT-3.8.3-1'],
    ['an empty filter', subscribePacket(['']), 'MQTT-3.8.3-1'],
    ['requested QoS 3', subscribePacket(['fleet/v1/#'], 1, 3), 'MQTT-3-8.3-4'],
    ['a filter without its QoS byte', packet(0x82, hex('0001 0001 61')), 'MQTT-3-8.3-4'],
    ['UNSUBSCRIBE with U+0000', unsubscribePacket(['a\0']), 'MQTT-3.10.3-1'],
    ['SUBSCRIBE with packet id 0', subscribePacket(['fleet/v1/#'], 0), 'MQTT-2.3.1-1'],
    ['SUBSCRIBE with flags 0000', packet(0x80, subscribePacket(['a']).subarray(2)), 'MQTT-3.8.1-1'],
    ['UNSUBSCRIBE with flags 0000', packet(0xa0, unsubscribePacket(['a']).subarray(2)), 'MQTT-3.10.1-1']
  ]
  for (const [name, bytes, rule] of cases) t.equal(verdict(t, bytes)?.rule, rule, `${name}: closed [${rule}]`)
})

t.test('acknowledgements, PINGREQ, DISCONNECT and packets a client never sends', async t => {
  t.equal(verdict(t, hex('4002 0001 5002 0001 6202 0001 7002 0001 c000 e000')), null, 'well-formed ones pass')
  const cases: Array<[string, string, string]> = [
    ['PUBACK without an id (40 00)', '4000', 'MQTT-4.8.0-1'],
    ['PUBREC without an id (50 00)', '5000', 'MQTT-4.8.0-1'],
    ['PUBREL without an id (62 00)', '6200', 'MQTT-4.8.0-1'],
    ['PUBCOMP of one byte (70 01 01)', '700101', 'MQTT-4.8.0-1'],
    ['PINGREQ with a byte (c0 01 00)', 'c00100', 'MQTT-4.8.0-1'],
    ['DISCONNECT with a byte', 'e00100', 'MQTT-4.8.0-1'],
    ['PUBREL with packet id 0', '62020000', 'MQTT-2.3.1-1'],
    ['PUBACK with packet id 0', '40020000', 'MQTT-2.3.1-1'],
    ['PUBREL with flags 0000', '60020001', 'MQTT-2.2.2-2'],
    ['PUBACK with flags 0010', '42020001', 'MQTT-2.2.2-2'],
    ['a second CONNECT', login.toString('hex'), 'MQTT-3.1.0-2'],
    ['CONNACK', '20020000', 'MQTT-4.8.0-1'],
    ['SUBACK', '9003000100', 'MQTT-4.8.0-1'],
    ['PINGRESP', 'd000', 'MQTT-4.8.0-1'],
    ['reserved type 0', '0000', 'MQTT-4.8.0-1'],
    ['reserved type 15', 'f000', 'MQTT-4.8.0-1'],
    ['a remaining length of five bytes', 'c0ffffffff01', 'MQTT-2.2.3']
  ]
  for (const [name, bytes, rule] of cases) t.equal(verdict(t, hex(bytes))?.rule, rule, `${name}: closed [${rule}]`)
})

t.test('the stream stays aligned across large packets cut anywhere', async t => {
  const big = subscribePacket([Buffer.alloc(60000, 0x61)])
  const body = publishPacket('fleet/v1/telemetry', Buffer.alloc(100000, 0x62), { qos: 1 })
  const stream = Buffer.concat([big, body, publishPacket('fleet/v1/telemetry', 'x'), hex('c000')])
  for (const step of [1, 7, 4096, 65536]) t.equal(judge(stream, step), null, `${step}-byte pieces: all pass`)
  const bad = Buffer.concat([stream, hex('3000')])
  for (const step of [1, 7, 4096, 65536]) t.equal(judge(bad, step)?.rule, 'MQTT-3.3.2-2', `${step}-byte pieces: the bad packet at the end is found`)
})
