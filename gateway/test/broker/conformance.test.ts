// MQTT 3.1.1 conformance at the gateway's port: raw bytes in, the expected
// answer or a close out, from the specification's normative statements.
// Debian's Mosquitto, where installed, answers the same bytes beside it.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../../../lib/free-ports.js'
import { tempDir, count, waitWalApplied } from '../../../test/helper.js'
import { connectPacket, publishPacket, subscribePacket, unsubscribePacket, packet, hex, exchange, stackWithVehicle, type Exchange } from '../../../test/mqtt-bytes-helper.js'

interface Case {
  name: string
  bytes: Buffer
  /** Sent first, after a valid CONNECT (the session is accepted). */
  loggedIn?: boolean
  /** The reply expected before the close: '' for a close without a reply. */
  reply: string
  /** Debian 12's Mosquitto (2.0.11) lets it through: no reference. */
  lenientMosquitto?: true
}

function cases (id: string, token: string): Case[] {
  const creds = { clientId: id, username: id, password: token }
  return [
    { name: 'reserved connect flag [MQTT-3.1.2-3]', bytes: connectPacket({ ...creds, flags: 0xc3 }), reply: '' },
    { name: 'Will QoS 3 [MQTT-3.1.2-14]', bytes: connectPacket({ ...creds, will: { topic: `fleet/${id}/status`, payload: 'offline', qos: 3 } }), reply: '' },
    { name: 'Will QoS without Will flag [MQTT-3.1.2-13]', bytes: connectPacket({ ...creds, flags: 0xc2 | 0x08 }), reply: '' },
    { name: 'Will Retain without Will flag [MQTT-3.1.2-15]', bytes: connectPacket({ ...creds, flags: 0xc2 | 0x20 }), reply: '' },
    { name: 'U+0000 in the Will topic [MQTT-1.5.3-2]', bytes: connectPacket({ ...creds, will: { topic: `fleet/${id}/status\0`, payload: 'offline' } }), reply: '' },
    { name: 'encoded surrogate in the client id [MQTT-1.5.3-1]', bytes: connectPacket({ clientId: hex('76eda080') }), reply: '' },
    { name: 'U+0000 in the user name [MQTT-1.5.3-2]', bytes: connectPacket({ clientId: id, username: 'a\0b', password: token }), reply: '' },
    { name: 'password without user name [MQTT-3.1.2-22]', bytes: connectPacket({ clientId: id, flags: 0x42 }), reply: '' },
    { name: 'protocol level 2 [MQTT-3.1.2-2]', bytes: connectPacket({ ...creds, level: 2 }), reply: '20020001' },
    { name: 'protocol level 6 [MQTT-3.1.2-2]', bytes: connectPacket({ ...creds, level: 6 }), reply: '20020001' },
    { name: 'empty client id, clean session 0 [MQTT-3.1.3-8]', bytes: connectPacket({ clientId: '', clean: false }), reply: '20020002' },
    { name: 'first packet not a CONNECT [MQTT-3.1.0-1]', bytes: publishPacket('a', 'b'), reply: '' },
    { name: 'PUBLISH with U+0000 in its topic [MQTT-1.5.3-2]', loggedIn: true, bytes: hex('3210 0005 746f700000 0001 7061796c6f6164'), reply: '' },
    { name: 'PUBLISH with an encoded surrogate in its topic [MQTT-1.5.3-1]', loggedIn: true, bytes: publishPacket(hex('666c656574eda080'), 'x', { qos: 1 }), reply: '' },
    { name: 'PUBLISH to a wildcard topic [MQTT-3.3.2-2]', loggedIn: true, bytes: publishPacket(`fleet/${id}/+`, 'x', { qos: 1 }), reply: '' },
    { name: 'PUBLISH QoS 1 with packet id 0 [MQTT-2.3.1-1]', loggedIn: true, bytes: publishPacket(`fleet/${id}/telemetry`, '{}', { qos: 1, id: 0 }), reply: '' },
    { name: 'PUBLISH QoS 0 with DUP [MQTT-3.3.1-2]', loggedIn: true, bytes: publishPacket(`fleet/${id}/telemetry`, '{}', { dup: true }), reply: '', lenientMosquitto: true },
    { name: 'PUBLISH QoS 3 [MQTT-3.3.1-4]', loggedIn: true, bytes: Buffer.concat([Buffer.from([0x36]), publishPacket(`fleet/${id}/telemetry`, '{}', { qos: 1 }).subarray(1)]), reply: '' },
    { name: 'SUBSCRIBE without a filter [MQTT-3.8.3-3]', loggedIn: true, bytes: packet(0x82, hex('0001')), reply: '' },
    { name: 'SUBSCRIBE with U+0000 in its filter [MQTT-1.5.3-2]', loggedIn: true, bytes: subscribePacket([`fleet/${id}/top\0\0`]), reply: '' },
    { name: 'SUBSCRIBE with a malformed wildcard [MQTT-4.7.1-2]', loggedIn: true, bytes: subscribePacket([`fleet/${id}/#/x`]), reply: '' },
    { name: 'UNSUBSCRIBE without a filter [MQTT-3.10.3-2]', loggedIn: true, bytes: packet(0xa2, hex('0001')), reply: '' },
    { name: 'UNSUBSCRIBE with ill-formed UTF-8 [MQTT-1.5.3-1]', loggedIn: true, bytes: unsubscribePacket([hex('61eda080')]), reply: '' },
    { name: 'PUBREC without a packet id (50 00)', loggedIn: true, bytes: hex('5000'), reply: '' },
    { name: 'PUBREL without a packet id (62 00)', loggedIn: true, bytes: hex('6200'), reply: '' },
    { name: 'PUBCOMP with one byte (70 01 01)', loggedIn: true, bytes: hex('700101'), reply: '' },
    { name: 'PINGREQ with a byte (c0 01 00)', loggedIn: true, bytes: hex('c00100'), reply: '', lenientMosquitto: true },
    { name: 'PUBREL with packet id 0 [MQTT-2.3.1-1]', loggedIn: true, bytes: hex('62020000'), reply: '' },
    { name: 'a second CONNECT [MQTT-3.1.0-2]', loggedIn: true, bytes: connectPacket(creds), reply: '' }
  ]
}

async function run (port: number, c: Case, login: Buffer): Promise<Exchange> {
  return await exchange(port, c.bytes, c.loggedIn ? { before: login } : {})
}

t.test('fleetgate closes on every violation, answering only where the specification says', async t => {
  const id = 'cf-1'
  const { stack, token, port } = await stackWithVehicle(t, id)
  const login = connectPacket({ clientId: id, username: id, password: token })
  const ok = await exchange(port, hex('c000'), { before: login, waitMs: 300 })
  t.equal(ok.reply.toString('hex'), 'd000', 'a valid session answers PINGREQ')

  for (const c of cases(id, token)) {
    const r = await run(port, c, login)
    t.equal(r.reply.toString('hex'), c.reply, `${c.name}: ${c.reply === '' ? 'no reply' : 'CONNACK ' + c.reply.slice(-2)}`)
    t.ok(r.closed, `${c.name}: closed`)
  }
  // the NUL topic is neither acknowledged nor quarantined
  await waitWalApplied(stack.pgUrl)
  t.equal(await count(stack.pgUrl, `SELECT count() n FROM rejections WHERE vehicle_id = '${id}'`), 0, 'nothing of the refused packets was stored')
  const metric = await stack.gw.gateway.metrics.registry.getSingleMetricAsString('fleetgate_mqtt_refused_total')
  t.match(metric, /reason="malformed"} [1-9]/, 'the closes are counted as malformed')
})

const mosquitto = '/usr/sbin/mosquitto'
t.test('Mosquitto, as a reference, closes on the same bytes', { skip: existsSync(mosquitto) ? false : 'mosquitto is not installed (apt-get install mosquitto)' }, async t => {
  const dir = tempDir(t)
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`)
  const child = spawn(mosquitto, ['-c', conf], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGTERM') })
  const deadline = Date.now() + 10000
  for (;;) {
    const r = await exchange(port, hex('c000'), { before: connectPacket({ clientId: 'probe' }), waitMs: 200 }).catch(() => null)
    if (r?.reply.toString('hex') === 'd000') break
    if (Date.now() > deadline) throw new Error('mosquitto did not start')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  // anonymous: the same packets without credentials
  const login = connectPacket({ clientId: 'cf-1' })
  t.equal((await exchange(port, hex('c000'), { before: login, waitMs: 300 })).reply.toString('hex'), 'd000', 'a valid session answers PINGREQ')
  for (const c of cases('cf-1', 'x')) {
    if (c.lenientMosquitto) continue
    const r = await run(port, c, login)
    t.ok(r.closed, `${c.name}: Mosquitto closes too (reply ${r.reply.toString('hex') || 'none'})`)
  }
})
