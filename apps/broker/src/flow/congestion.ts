// Tells when a subscriber is congested: it still reads, but what waits for it fills one of the bounds that
// would cut it off (bytes waiting to be written; QoS 1/2 messages unacknowledged, and for a persistent session
// its stored queue).
// Sampled every SAMPLE_MS for the connections written to since; a connection costs a counter per write. One
// that crosses the high-water mark between samples is judged at once: a busy broker writes megabytes to a
// subscriber in one sample period (a socket read of up to ~80 KiB from each publisher, every turn of the event
// loop), so waiting for the next sample let a reader stalled for a few milliseconds be cut off before it was seen.
//
// Reading is measured as the bytes the kernel took from the connection (while a backlog waits, what the
// client reads), plus the messages it acknowledged (each counted at the average size of its stored queue, or
// of what it was sent). Node frees a socket's writableLength only when a whole batched write is in the
// kernel (which on loopback holds megabytes), so for a TCP socket the kernel's intake is read from libuv's own
// count; other streams (TLS, WebSocket) fall back to what left writableLength. The rate is averaged over
// three seconds.
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import { clientOfConn, connOf } from '../aedes/accessors.js'
import { fn, patchEach } from '../aedes/patch.js'

export const SAMPLE_MS = 50
/**
 * samples the drain rate is averaged over (three seconds): a reader starved of CPU for a moment is not taken
 * for one that stopped, and a publish is held at most maxHoldMs anyway
 */
const WINDOW = 60

export interface CongestionLimits {
  /** 0: not a bound */
  readonly maxOutgoingBytes: number
  readonly maxQueuedMessages: number
  readonly maxQueuedBytes: number
  readonly highWater: number
  readonly lowWater: number
  readonly minDrainBytesPerSec: number
}

export interface Usage { readonly n: number, readonly bytes: number }

/**
 * The largest share in use of a bound that cuts a subscriber off. `inflight`: QoS 1/2 messages sent to it and
 * not yet acknowledged, counted on its own worker whichever worker queued them (a persistent session's queue
 * is counted where a message is published), measured against maxQueuedMessages.
 */
export function fillOf (l: CongestionLimits, buffered: number, queued: Usage | undefined, inflight = 0): number {
  let fill = l.maxOutgoingBytes > 0 ? buffered / l.maxOutgoingBytes : 0
  if (l.maxQueuedMessages > 0) fill = Math.max(fill, inflight / l.maxQueuedMessages)
  if (queued !== undefined) {
    if (l.maxQueuedMessages > 0) fill = Math.max(fill, queued.n / l.maxQueuedMessages)
    if (l.maxQueuedBytes > 0) fill = Math.max(fill, queued.bytes / l.maxQueuedBytes)
  }
  return fill
}

/**
 * Congested next? Past the high-water mark while draining at least the minimum rate; it stays so down to the
 * low-water mark. A subscriber that drains less — it stopped reading, or reads a trickle on purpose — is
 * never congested: it holds no one up and is cut off at its bound as before.
 */
export function judge (congested: boolean, fill: number, drainPerSec: number, l: CongestionLimits): boolean {
  if (fill <= l.lowWater || drainPerSec < l.minDrainBytesPerSec) return false
  return congested || fill >= l.highWater
}

/** Node's net.Socket: bytes handed to libuv, and what libuv still holds of them (not yet in the kernel) */
interface SocketInternals { _bytesDispatched?: unknown, _handle?: { writeQueueSize?: unknown } | null }

/** bytes the kernel has taken from the socket so far, when the stream says */
function kernelIntake (conn: object): number | undefined {
  const s = conn as SocketInternals
  const queued = s._handle?.writeQueueSize
  return typeof s._bytesDispatched === 'number' && typeof queued === 'number' ? s._bytesDispatched - queued : undefined
}

/** the state of a connection written to lately (on the socket, not the client: found from the write) */
const WATCHED = Symbol('warden.flowWatched')
type WatchedConn = Duplex & { [WATCHED]?: Watched | undefined }

interface Watched {
  readonly client: Client
  readonly conn: WatchedConn
  added: number
  acks: number
  /** QoS 1/2 messages sent and not acknowledged */
  inflight: number
  /** bytes (topic and payload) of the QoS 1/2 messages sent, on average */
  size: number
  lastLength: number
  lastIntake: number | undefined
  readonly drained: number[]
  readonly ms: number[]
  at: number
  congested: boolean
  active: boolean
  /** judged at once when it crosses the high-water mark; once per sample period at most */
  armed: boolean
}

export interface CongestionEvents {
  /** stored QoS 1/2 messages of a session, when counted */
  usageOf (clientId: string): Usage | undefined
  /** congested now (again every sample while it stays so) */
  congested (client: Client): void
  clear (client: Client): void
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean

/**
 * One per broker. A connection costs nothing while idle: its socket's write is the broker's one shared
 * wrapper, and its counters exist from a write until it is idle again (nothing written, nothing waiting,
 * nothing unacknowledged); acknowledgements come from aedes's 'ack' event, a closed connection is dropped
 * at the next sample.
 */
export class CongestionWatch {
  private readonly active = new Set<Watched>()
  private readonly timer: NodeJS.Timeout
  private readonly install: (conn: Duplex) => void
  /** bytes waiting and messages unacknowledged at the high-water mark (Infinity: not a bound) */
  private readonly highBytes: number
  private readonly highInflight: number

  constructor (private readonly limits: CongestionLimits, private readonly events: CongestionEvents) {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
    this.timer.unref()
    this.highBytes = limits.maxOutgoingBytes > 0 ? limits.maxOutgoingBytes * limits.highWater : Infinity
    this.highInflight = limits.maxQueuedMessages > 0 ? limits.maxQueuedMessages * limits.highWater : Infinity
    const watch = this
    this.install = patchEach<Duplex, 'write'>('write', fn(3), (write) => function (
      this: WatchedConn, chunk: unknown, encoding?: unknown, cb?: unknown
    ): boolean {
      const w = watch.stateOf(this)
      w.added += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as { length: number }).length
      if (!w.active) watch.activate(w)
      const ok = (write as Write).call(this, chunk, encoding, cb)
      if (w.armed && this.writableLength >= watch.highBytes) watch.judgeNow(w)
      return ok
    } as Duplex['write'], 'flow control counts the bytes written to a subscriber', 'client.conn')
  }

  /** counts what is written to the client's connection from now on */
  watch (client: Client): void { this.install(connOf(client)) }

  /** a QoS 1/2 message of `bytes` (topic and payload) is on its way to the client */
  sent (client: Client, bytes: number): void {
    const w = this.stateOf(connOf(client))
    w.inflight++
    w.size = w.size === 0 ? bytes : w.size + (bytes - w.size) / 16
    if (w.armed && w.inflight >= this.highInflight) this.judgeNow(w)
  }

  /** the client acknowledged a QoS 1/2 message (aedes's 'ack' event) */
  acked (client: Client): void {
    const w = (connOf(client) as WatchedConn)[WATCHED]
    if (w === undefined) return
    w.acks++
    if (w.inflight > 0) w.inflight--
  }

  close (): void { clearInterval(this.timer) }

  private stateOf (conn: WatchedConn): Watched {
    let w = conn[WATCHED]
    if (w === undefined) {
      w = {
        client: clientOfConn(conn), conn, added: 0, acks: 0, inflight: 0, size: 0, lastLength: 0, lastIntake: undefined,
        drained: [], ms: [], at: 0, congested: false, active: false, armed: true
      }
      conn[WATCHED] = w
    }
    return w
  }

  private activate (w: Watched): void {
    w.active = true
    w.at = Date.now()
    w.lastLength = w.conn.writableLength - w.added
    w.lastIntake = kernelIntake(w.conn)
    this.active.add(w)
  }

  /** bytes it drained since the last sample: what the kernel took, and what it acknowledged */
  private drainedSince (w: Watched, length: number, intake: number | undefined, usage: Usage | undefined): number {
    const acked = w.acks * (usage === undefined || usage.n === 0 ? w.size : usage.bytes / usage.n)
    const sent = intake !== undefined && w.lastIntake !== undefined ? intake - w.lastIntake : w.lastLength + w.added - length
    return Math.max(0, sent) + acked
  }

  /** congested next, by its fill and its drain rate over the window (and `bytes` drained in the `ms` since) */
  private verdict (w: Watched, fill: number, bytes: number, ms: number): boolean {
    for (let i = 0; i < w.drained.length; i++) { bytes += w.drained[i] as number; ms += w.ms[i] as number }
    // a clean session has no stored queue to be cut off at: one that leaves maxQueuedMessages unacknowledged
    // (reading its socket, so its drain looks healthy) is past its bound for good and holds no one
    const overdue = w.client.clean && this.limits.maxQueuedMessages > 0 && w.inflight >= this.limits.maxQueuedMessages
    return !overdue && judge(w.congested, fill, bytes * 1000 / Math.max(1, ms), this.limits)
  }

  /** past the high-water mark between samples: judged now, its reading counted up to now */
  private judgeNow (w: Watched): void {
    w.armed = false
    if (w.conn.destroyed) return
    const length = w.conn.writableLength
    const usage = this.events.usageOf(w.client.id)
    const drained = this.drainedSince(w, length, kernelIntake(w.conn), usage)
    if (!this.verdict(w, fillOf(this.limits, length, usage, w.inflight), drained, Date.now() - w.at)) return
    w.congested = true
    this.events.congested(w.client)
  }

  private sample (): void {
    const now = Date.now()
    for (const w of this.active) {
      if (w.conn.destroyed) {
        if (w.congested) { w.congested = false; this.events.clear(w.client) }
        this.active.delete(w)
        w.conn[WATCHED] = undefined
        continue
      }
      const length = w.conn.writableLength
      const wrote = w.added > 0
      const usage = this.events.usageOf(w.client.id)
      const intake = kernelIntake(w.conn)
      const drained = this.drainedSince(w, length, intake, usage)
      w.lastIntake = intake
      w.added = 0
      w.acks = 0
      w.lastLength = length
      w.drained.push(drained)
      w.ms.push(Math.max(1, now - w.at))
      w.at = now
      if (w.drained.length > WINDOW) { w.drained.shift(); w.ms.shift() }
      const fill = fillOf(this.limits, length, usage, w.inflight)
      const next = this.verdict(w, fill, 0, 0)
      w.armed = !next
      if (next) this.events.congested(w.client)
      else if (w.congested) this.events.clear(w.client)
      w.congested = next
      // nothing written and little waiting: idle, not sampled until the next write; with nothing
      // unacknowledged either, its counters go
      if (!wrote && !next && fill <= this.limits.lowWater) {
        w.active = false
        w.drained.length = 0
        w.ms.length = 0
        this.active.delete(w)
        if (w.inflight === 0) w.conn[WATCHED] = undefined
      }
    }
  }
}
