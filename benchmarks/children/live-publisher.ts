// The fleet for live.bench.ts, in its own process (10,000 sockets on each
// side would pass a 20,000 descriptor limit in one process): raw MQTT 3.1.1
// over TCP, CONNECT then a QoS 0 PUBLISH per vehicle per second, each
// reading's ts = its send time. Driven over IPC: start -> connected, stats, stop.
import { connect, type Socket } from 'node:net'
import { vehicleTopic } from '../../schemas/topics.js'
import { createFleetWalk, type Region } from './fleet.js'

export interface StartMessage { type: 'start', port: number, vehicles: Array<[string, string]>, region: Region, hz: number }

function varint (n: number): Buffer {
  const out: number[] = []
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 128; out.push(b) } while (n > 0)
  return Buffer.from(out)
}
function str (s: string): Buffer { const b = Buffer.from(s); const l = Buffer.alloc(2); l.writeUInt16BE(b.length); return Buffer.concat([l, b]) }
function connectPacket (id: string, token: string): Buffer {
  // [MQTT-3.1.2] protocol name, level 4, flags: username, password, clean session; keepalive 120 s
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 120]), str(id), str(id), str(token)])
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body])
}
function publishPacket (topic: string, payload: string): Buffer {
  const body = Buffer.concat([str(topic), Buffer.from(payload)])
  return Buffer.concat([Buffer.from([0x30]), varint(body.length), body])
}

async function connectOnce (port: number, id: string, token: string): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1')
    sock.setNoDelay(true)
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('connack timeout')) }, 15000)
    sock.once('error', err => { clearTimeout(timer); sock.destroy(); reject(err) })
    sock.once('data', d => {
      clearTimeout(timer)
      // CONNACK: 0x20 0x02 flags return-code
      if (d[0] === 0x20 && d[3] === 0) { sock.on('data', () => {}); sock.on('error', () => {}); resolve(sock) } else { sock.destroy(); reject(new Error(`connack ${d.toString('hex')}`)) }
    })
    sock.write(connectPacket(id, token))
  })
}

async function connectVehicle (port: number, id: string, token: string): Promise<Socket> {
  // a loaded machine (shared with other work) may reset a connect: retry a few times
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(port, id, token)
    } catch (err) {
      if (attempt >= 5) throw err
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
}

interface Vehicle { topic: string, sock: Socket, lat: number, lon: number, seq: number }
const vehicles: Vehicle[] = []
let sent = 0
let timer: NodeJS.Timeout | undefined

async function start (m: StartMessage): Promise<void> {
  const t0 = performance.now()
  const walk = createFleetWalk(m.region)
  for (let i = 0; i < m.vehicles.length; i += 100) {
    const wave = m.vehicles.slice(i, i + 100)
    const socks = await Promise.all(wave.map(([id, token]) => connectVehicle(m.port, id, token)))
    socks.forEach((sock, j) => {
      const id = (wave[j] as [string, string])[0]
      vehicles.push({ topic: vehicleTopic(id, 'telemetry'), sock, ...walk.place(), seq: 0 })
    })
  }
  const connectMs = performance.now() - t0
  timer = walk.drive(vehicles, m.hz, (v, reading) => {
    v.sock.write(publishPacket(v.topic, JSON.stringify(reading)))
    sent++
  })
  process.send?.({ type: 'connected', connectMs })
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'start') {
    start(m as StartMessage).catch(err => { process.send?.({ type: 'failed', error: String((err as Error).stack ?? err) }) })
  } else if (m.type === 'stats') {
    process.send?.({ type: 'stats', sent, cpu: process.cpuUsage() })
  } else if (m.type === 'stop') {
    clearInterval(timer)
    for (const v of vehicles) v.sock.destroy()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
