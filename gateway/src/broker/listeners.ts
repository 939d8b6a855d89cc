// The broker's listeners: MQTT over TCP, over WebSocket on /mqtt, and over
// TLS when a certificate is given. Every connection goes through the packet
// guard before Aedes parses it.
import type { Aedes, Client } from 'aedes'
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import type { Logger } from 'pino'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { createPacketGuard, type GuardLimits } from './packet-guard.js'

/**
 * Largest packet before a session is accepted: a CONNECT holds a client id
 * and user name of at most 64 characters, a 47-character token and a Will of
 * a status topic and word; this leaves room for long internal tokens.
 */
export const MAX_CONNECT_BYTES = 1024
/** Room beside MAX_PAYLOAD_BYTES in one PUBLISH: topic length, topic, packet id. */
export const MAX_TOPIC_OVERHEAD = 2 + 1024 + 2

export interface ListenOptions {
  host: string
  port: number
  wsPort: number
  tlsPort: number
  tlsCertFile?: string | undefined
  tlsKeyFile?: string | undefined
}

export interface Addresses { mqtt: string, ws?: string, tls?: string }

export interface ListenerOptions {
  aedes: Aedes
  log: Logger
  /** MAX_PAYLOAD_BYTES: with MAX_TOPIC_OVERHEAD, the largest packet after login. */
  maxPayloadBytes: number
  refuse: (reason: string) => void
  /** A connection was handed to Aedes. */
  opened: (client: Client) => void
  /** Its socket closed. */
  closed: (client: Client) => void
}

export interface Listeners {
  listen: (l: ListenOptions) => Promise<Addresses>
  /** Stops accepting connections; the open ones stay. */
  stopAccepting: () => void
  /** Stops accepting and ends the WebSocket connections. */
  close: () => void
}

function urlHost (host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
}

export function createListeners (opts: ListenerOptions): Listeners {
  const { aedes, log, refuse } = opts
  const servers: Array<NetServer | HttpServer> = []
  const wsServers: WebSocketServer[] = []
  const guardLimits: GuardLimits = { connectBytes: MAX_CONNECT_BYTES, packetBytes: opts.maxPayloadBytes + MAX_TOPIC_OVERHEAD }

  async function listenOn (server: NetServer | HttpServer, port: number, host: string): Promise<number> {
    servers.push(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    return (server.address() as { port: number }).port
  }

  // Aedes reads each chunk of a connection and hands it to its packet parser;
  // the guard sees the chunk first and closes the connection at the first
  // packet that breaks MQTT 3.1.1 or the size limits, before it is buffered.
  function handle (conn: Duplex, req?: IncomingMessage): void {
    const client = aedes.handle(conn, req)
    opts.opened(client)
    conn.once('close', () => opts.closed(client))
    const parser = (client as unknown as { _parser: { parse: (buf: Buffer) => number } })._parser
    const parse = parser.parse.bind(parser)
    const guard = createPacketGuard(guardLimits, () => client.connected)
    let refused = false
    parser.parse = (buf) => {
      if (refused) return 0
      const v = guard.feed(buf)
      if (v === null) return parse(buf)
      refused = true
      refuse(v.reason)
      log.debug({ rule: v.rule, vehicleId: client.id }, 'connection closed: protocol violation')
      if (v.connack === undefined) {
        conn.destroy()
      } else {
        // [MQTT-3.2.2-5] a CONNACK with a non-zero code, then close; the
        // timer ends a peer that does not close its side
        conn.end(Buffer.from([0x20, 0x02, 0x00, v.connack]))
        setTimeout(() => conn.destroy(), 1000).unref()
      }
      return 0
    }
  }

  return {
    async listen (l) {
      await aedes.listen()
      const tcpPort = await listenOn(createNetServer(handle), l.port, l.host)
      const addresses: Addresses = { mqtt: `mqtt://${urlHost(l.host)}:${tcpPort}` }
      if (l.wsPort >= 0) {
        const http = createHttpServer((_req, res) => { res.writeHead(426).end('use MQTT over WebSocket on /mqtt') })
        const wss = new WebSocketServer({ server: http, path: '/mqtt' })
        wsServers.push(wss)
        wss.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws)
          stream.on('error', () => stream.destroy())
          handle(stream, req)
        })
        const p = await listenOn(http, l.wsPort, l.host)
        addresses.ws = `ws://${urlHost(l.host)}:${p}/mqtt`
      }
      if (l.tlsCertFile && l.tlsKeyFile) {
        const tls = createTlsServer({ cert: readFileSync(l.tlsCertFile), key: readFileSync(l.tlsKeyFile) }, handle)
        const p = await listenOn(tls as unknown as NetServer, l.tlsPort, l.host)
        addresses.tls = `mqtts://${urlHost(l.host)}:${p}`
      }
      return addresses
    },
    stopAccepting () {
      for (const s of servers) s.close()
    },
    close () {
      for (const w of wsServers) {
        for (const c of w.clients) c.terminate()
        w.close()
      }
      for (const s of servers) s.close()
    }
  }
}
