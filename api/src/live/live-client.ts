// One live-feed connection: its subscription, what waits to be sent to it and
// the rules that keep that bounded. Nothing here awaits the socket: the live
// bus hands positions in synchronously, the feed flushes them later, and a
// client whose socket does not drain is conflated and then closed.
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { LiveEvent, LiveStatus, Position } from '../../../schemas/live.js'
import type { Alert, LiveError, LiveNotice, LiveUnsubscribed } from '../../../schemas/types.js'
import type { Subscription } from './subscription.js'
import type { LiveMetrics } from './live-metrics.js'

export interface LiveLimits {
  /** Above this many bytes waiting in the socket, nothing more is sent and positions are conflated. */
  softBufferBytes: number
  /** Positions queued for a client without max_hz before it is switched to conflation. */
  maxQueue: number
  /** Events queued while the client is behind before it is closed. */
  maxEvents: number
  /** A client whose send buffer does not drain (empty) for this long is closed as too slow. */
  stallTimeoutMs: number
  /** Tick rate of a client without max_hz once it has been switched to conflation. */
  fallbackHz: number
  /** Ping interval; a peer with an empty send buffer that did not answer the previous ping is closed. */
  heartbeatMs: number
  /** After a close frame to a peer that reads, how long before the socket is destroyed anyway. */
  closeGraceMs: number
  /**
   * Clients woken this long ago are flushed at once, even in the middle of a
   * turn of the event loop: under load one turn reads thousands of publishes.
   */
  maxWakeMs: number
}

export const DEFAULT_LIMITS: LiveLimits = {
  softBufferBytes: 1024 * 1024,
  maxQueue: 10000,
  maxEvents: 1000,
  stallTimeoutMs: 30000,
  fallbackHz: 2,
  heartbeatMs: 30000,
  closeGraceMs: 5000,
  maxWakeMs: 5
}

const CHUNK_BYTES = 64 * 1024

// Close codes in the private range [RFC 6455 7.4.2].
export const CLOSE_TOO_SLOW = 4008
/** Reason prefix of every 4008 close. */
export const TOO_SLOW_REASON = 'client too slow: '
export const CLOSE_GOING_AWAY = 1001

export interface FeedContext {
  limits: LiveLimits
  metrics: LiveMetrics
  /** The position's JSON, serialized once for all clients. */
  json: (p: Position) => string
  /** The latest positions matching a subscription (the snapshot). */
  snapshot: (sub: Subscription) => Position[]
  /** Asks for a flush of this client at the end of this turn of the event loop (or after maxWakeMs). */
  wake: (c: LiveClient) => void
  /** The feed lets go of this client: nothing more is sent to it, its socket may still deliver what it holds. */
  release: (c: LiveClient) => void
}

export class LiveClient {
  sub: Subscription | null = null
  /** Positions in arrival order (max_hz 0, not conflating). */
  private queue: Position[] = []
  /** Latest position per vehicle (conflating). */
  private pending = new Map<string, Position>()
  // events and status changes, in arrival order
  private events: Array<LiveEvent | LiveStatus | Alert> = []
  private conflating = false
  private needsSnapshot = false
  private nextTickAt = 0
  private behindSince = 0
  private conflatedUncounted = 0
  /** Set by closeUnread: the time by which the socket is destroyed even if its close frame is still queued. */
  private releaseBy = 0
  /** Bytes still queued for that socket at the last check: less means the peer reads again. */
  private releaseLeft = Number.POSITIVE_INFINITY
  alive = true
  closed = false

  /** @param socket the connection under ws: where a close frame waits behind unread data */
  constructor (readonly ws: WebSocket, private readonly ctx: FeedContext, private readonly socket: Socket) {}

  subscribe (sub: Subscription): void {
    this.sub = sub
    this.queue = []
    this.pending.clear()
    this.conflating = sub.maxHz > 0
    this.needsSnapshot = true
    this.nextTickAt = 0
    this.flush(Date.now())
  }

  unsubscribe (): void {
    this.sub = null
    this.queue = []
    this.pending.clear()
    this.events = []
    this.needsSnapshot = false
  }

  /** Called by the live bus for a position this client's subscription matches: never blocks. */
  offer (p: Position): void {
    if (this.needsSnapshot) return // the snapshot, taken when it is sent, will hold it
    if (!this.conflating) {
      this.queue.push(p)
      if (this.queue.length > this.ctx.limits.maxQueue) this.startConflating('queue over bound')
      else if (this.queue.length === 1) this.ctx.wake(this)
      return
    }
    const prev = this.pending.get(p.vehicle_id)
    if (prev) {
      this.conflatedUncounted++
      if (p.ts < prev.ts) return // latest wins: an older reading never replaces a newer one
    }
    this.pending.set(p.vehicle_id, p)
  }

  /** A vehicle's session started or ended (the gateway's status): sent like an event. */
  offerStatus (s: LiveStatus): void {
    this.offerEvent(s)
  }

  /** An alert travels with the events: in arrival order, never conflated. */
  offerAlert (a: Alert): void {
    this.offerEvent(a)
  }

  offerEvent (e: LiveEvent | LiveStatus | Alert): void {
    this.events.push(e)
    if (this.events.length > this.ctx.limits.maxEvents) { this.closeSlow('event queue over bound'); return }
    if (this.events.length === 1) this.ctx.wake(this)
  }

  queued (): { queue: number, pending: number, bufferedAmount: number } {
    return { queue: this.queue.length, pending: this.pending.size, bufferedAmount: this.ws.bufferedAmount }
  }

  private startConflating (why: string): void {
    if (this.conflating) return
    this.conflating = true
    for (const p of this.queue) this.offer(p)
    this.queue = []
    const notice: LiveNotice = { type: 'notice', code: 'conflating', detail: `client fell behind (${why}): from now on the latest position per vehicle, ${this.ctx.limits.fallbackHz} times a second` }
    this.sendRaw('notice', JSON.stringify(notice))
  }

  /**
   * Whether the peer is reading: data waiting in the api's send buffer means
   * the kernel's is full. While it is behind, a ping waits behind that data
   * too, so a missing pong says nothing and the stall rule alone decides.
   */
  get behind (): boolean {
    return this.ws.bufferedAmount > 0
  }

  /** Sends what is due; called on wake (next event-loop turn) and on every feed tick. */
  flush (now: number): void {
    if (this.releaseBy > 0) { this.releaseIfSent(now); return }
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return
    // the one stall timer: it runs from the moment the buffer stops draining,
    // not from when it passes the soft bound (the kernel's buffers come first)
    if (!this.behind) this.behindSince = 0
    else if (this.behindSince === 0) this.behindSince = now
    else if (now - this.behindSince > this.ctx.limits.stallTimeoutMs) { this.closeSlow(`send buffer not drained for ${this.ctx.limits.stallTimeoutMs} ms`); return }
    if (this.ws.bufferedAmount > this.ctx.limits.softBufferBytes) {
      if (this.queue.length > 0) this.startConflating('send buffer over bound')
      this.countConflated()
      return
    }
    const sub = this.sub
    if (sub === null) return
    if (this.needsSnapshot) {
      this.needsSnapshot = false
      this.sendPositions('snapshot', this.ctx.snapshot(sub))
    }
    if (this.queue.length > 0) {
      // in messages of about CHUNK_BYTES while the socket takes them, so what
      // waits in the api for a client that stops reading is the soft bound
      // plus one chunk; the rest stays queued (and conflates past maxQueue)
      let i = 0
      while (i < this.queue.length && this.ws.bufferedAmount <= this.ctx.limits.softBufferBytes) {
        i = this.sendPositions('positions', this.queue, i, CHUNK_BYTES)
      }
      this.queue = i >= this.queue.length ? [] : this.queue.slice(i)
    }
    if (this.pending.size > 0 && now >= this.nextTickAt) {
      this.nextTickAt = now + 1000 / (sub.maxHz > 0 ? sub.maxHz : this.ctx.limits.fallbackHz)
      const batch = [...this.pending.values()]
      this.pending.clear()
      this.sendPositions('positions', batch)
    }
    if (this.events.length > 0) {
      const events = this.events
      this.events = []
      for (const e of events) {
        if ('online' in e) this.sendRaw('status', `{"type":"status","status":${JSON.stringify(e)}}`)
        else if ('geofence_id' in e) this.sendRaw('alert', `{"type":"alert","alert":${JSON.stringify(e)}}`)
        else this.sendRaw('event', `{"type":"event","event":${JSON.stringify(e)}}`)
      }
    }
    this.countConflated()
  }

  /** An error or acknowledgement sent straight away. */
  reply (msg: LiveError | LiveUnsubscribed): void {
    this.sendRaw(msg.type, JSON.stringify(msg))
  }

  close (code: number, reason: string, metricReason: string): void {
    if (!this.startClose(code, reason, metricReason)) return
    // a peer that does not read will never answer the close frame [RFC 6455 7.1.1]
    setTimeout(() => this.ws.terminate(), this.ctx.limits.closeGraceMs).unref()
  }

  /** Called by the heartbeat for a peer that did not answer the previous ping. */
  unresponsive (): void {
    this.closeUnread(`no answer to a ping for ${this.ctx.limits.heartbeatMs} ms`, 'dead_peer')
  }

  private closeSlow (why: string): void {
    this.closeUnread(why, 'slow')
  }

  /**
   * Closes a peer that is not reading so that the close frame still reaches
   * it: nothing more is queued behind the frame (positions and events waiting
   * in the api are dropped), and the socket is let go only once the frame has
   * left for the kernel, which delivers it after what it already holds to a
   * peer that reads again. Destroying it earlier, as after a close handshake
   * that cannot happen, would discard the frame with the unsent data.
   */
  private closeUnread (why: string, metricReason: string): void {
    if (!this.startClose(CLOSE_TOO_SLOW, TOO_SLOW_REASON + why, metricReason)) return
    this.releaseBy = Date.now() + this.ctx.limits.stallTimeoutMs
    this.releaseIfSent(Date.now())
  }

  /** Lets go of a socket closed by closeUnread once its close frame is in the kernel (checked on every feed tick). */
  private releaseIfSent (now: number): void {
    const left = this.socket.writableLength
    // a peer that reads again gets the time it needs: nothing new is queued, so each wait ends in progress or in release
    if (left < this.releaseLeft) this.releaseBy = now + this.ctx.limits.stallTimeoutMs
    this.releaseLeft = left
    if (left === 0) {
      // the frame is in the kernel: half-close after it and keep reading, so
      // the kernel delivers it to a peer that reads again (a socket destroyed
      // with data still to read is reset, and its queue discarded with it)
      this.releaseBy = 0
      this.ctx.release(this)
      this.socket.end()
      setTimeout(() => this.ws.terminate(), this.ctx.limits.stallTimeoutMs).unref()
    } else if (now > this.releaseBy) {
      // a peer that never reads again: the frame is lost with the socket, after a bounded wait
      this.releaseBy = 0
      this.ctx.release(this)
      this.ws.terminate()
    }
  }

  private startClose (code: number, reason: string, metricReason: string): boolean {
    if (this.closed) return false
    this.closed = true
    this.queue = []
    this.pending.clear()
    this.events = []
    this.ctx.metrics.clientsClosed.inc({ reason: metricReason })
    this.ws.close(code, reason)
    return true
  }

  private countConflated (): void {
    if (this.conflatedUncounted > 0) {
      this.ctx.metrics.positionsConflated.inc(this.conflatedUncounted)
      this.conflatedUncounted = 0
    }
  }

  /** Sends positions[from..] as one message of at most about maxBytes; returns the index after the last sent. */
  private sendPositions (type: 'snapshot' | 'positions', positions: Position[], from = 0, maxBytes = Infinity): number {
    // one string per message from positions serialized once for every client
    let body = `{"type":"${type}","positions":[`
    let i = from
    for (; i < positions.length && (i === from || body.length < maxBytes); i++) body += (i === from ? '' : ',') + this.ctx.json(positions[i] as Position)
    this.sendRaw(type, body + ']}')
    this.ctx.metrics.positionsSent.inc(i - from)
    return i
  }

  private sendRaw (type: string, text: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return
    this.ws.send(text)
    this.ctx.metrics.messagesSent.inc({ type })
  }
}
