// What Warden does with an aedes client's connection and state: batched writes, QoS capping, sessions of
// refused CONNECTs. The private fields themselves are read through the adapter (accessors.ts).
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Aedes, AedesPublishPacket, Client } from 'aedes'
import { clientsOf, connOf, markDisconnected, markPersistent, subscriptionsOf } from './accessors.js'
import { WardenError } from '@warden/common'
import { aedesClientClass } from './client-class.js'
import { fn, patch } from './patch.js'
import { holdWritesOf } from './packet-writes.js'
import { matchTopic } from '../policy/topic.js'
import { readFilterOf } from '../policy/share-filter.js'

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean

const HELD = Symbol('warden.heldBy')
const WRAPPED = Symbol('warden.flushesWhenFull')
const SINCE = Symbol('warden.bytesSinceFlush')

type Corkable = Duplex & {
  [HELD]?: Batch | undefined
  [WRAPPED]?: true
  /** bytes written to it since it was last flushed */
  [SINCE]?: number
}

/**
 * Sockets held during one round of deliveries. Its release runs after every delivery queued meanwhile:
 * it is moved to the end of the immediate queue whenever more are queued, until its marker immediate —
 * queued before the round's first delivery — runs; from then on, holds start a new round.
 */
interface Batch { readonly conns: Corkable[], release: NodeJS.Immediate | null }

/**
 * A held socket with this much waiting is written out before more is added: large messages gain nothing
 * from waiting, and a bound on bytes waiting (limits.maxOutgoingBytes) must see a slow reader, not a held
 * socket.
 */
const FLUSH_AT = 32 * 1024
let open: Batch | null = null
let moveQueued = false

function closeRound (b: Batch): void {
  if (open === b) open = null
}

function moveRelease (): void {
  moveQueued = false
  const b = open
  if (b === null) return
  if (b.release !== null) clearImmediate(b.release)
  b.release = setImmediate(release, b)
}

function release (b: Batch): void {
  for (const conn of b.conns) {
    conn[SINCE] = 0
    conn.uncork() // writes out everything buffered so far, a later round's packets included
    if (conn[HELD] === b) conn[HELD] = undefined
    else conn.cork() // a later round holds it too: it releases it in its turn
  }
}

/** Writes out what a socket has buffered now, whoever corked it (mqtt-packet corks while it writes a packet). */
export function writeOutNow (c: Corkable): void {
  const n = c.writableCorked
  for (let i = 0; i < n; i++) c.uncork()
  for (let i = 0; i < n; i++) c.cork()
}

const FLUSHES_ON_CLOSE = Symbol.for('warden.flushesHeldOnClose')

/**
 * aedes's Client.close writes out what is held first: it destroys the socket, and what the round held was lost with
 * it — the DISCONNECT aedes writes just before it closes (MQTT 5: 0x93 past the inbound QoS 2 window, read with the
 * publishes before it), and the PUBACKs and PUBRECs of those publishes. Once per process, on the prototype (no field
 * on a connection); refuses to start if aedes's Client has no close.
 */
export async function flushHeldOnClose (): Promise<void> {
  const proto = (await aedesClientClass())?.prototype as { close?: unknown, [FLUSHES_ON_CLOSE]?: true } | undefined
  if (proto === undefined || typeof proto.close !== 'function') {
    throw new WardenError('WARDEN_ERR_AEDES_CONTRACT', 'aedes internal lib/client.js Client.close is missing (Warden writes out held packets before it)')
  }
  if (proto[FLUSHES_ON_CLOSE] === true) return // another copy of this module in the process
  const close = proto.close as (this: { conn?: Corkable }, ...args: unknown[]) => unknown
  proto.close = function closeAfterHeld (this: { conn?: Corkable }, ...args: unknown[]): unknown {
    const c = this.conn
    if (c !== undefined && !c.destroyed && c.writableCorked > 0) writeOutNow(c)
    return close.apply(this, args)
  }
  proto[FLUSHES_ON_CLOSE] = true
}

/**
 * Flushes once FLUSH_AT bytes were written since the last flush, not whenever FLUSH_AT bytes wait: a flush
 * undoes every cork on the socket, one per packet written this tick (mqtt-packet's own), and to a peer that
 * does not read the bytes stay waiting — flushing on every write then cost that count each time, quadratic
 * in the packets of a tick (a flood of PUBRELs for unknown ids, each answered with a held PUBCOMP, from a
 * client that reads nothing: seconds of the event loop, every other client stalled).
 */
function flushWhenFull (c: Corkable): void {
  c[SINCE] = 0
  patch(c, 'write', fn(3), (original) => {
    const write = original as Write
    return function heldWrite (chunk: unknown, encoding: unknown, cb: unknown) {
      if (c[HELD] !== undefined && (c[SINCE] as number) >= FLUSH_AT) { c[SINCE] = 0; writeOutNow(c) }
      c[SINCE] = (c[SINCE] as number) + (typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).length)
      return write(chunk, encoding, cb)
    } as Corkable['write']
  }, 'aedes writes every packet in its own system call', 'client.conn')
  c[WRAPPED] = true
}

/**
 * Holds a client's outgoing packets back so that the packets of one round of deliveries go out in one
 * system call. aedes writes each packet on its own — every delivery runs in its own setImmediate and
 * mqtt-packet corks only until the next tick — so a busy broker spends a third of its CPU in one writev
 * per packet. Called just before aedes writes to the client (a delivery it is about to queue, a PUBACK it is
 * about to write). A socket stays corked once, whatever the number of rounds holding it; each round's
 * release writes out what was buffered, so packets wait at most for the end of the round after theirs, and
 * never while FLUSH_AT bytes are waiting.
 */
export function holdWrites (client: Client): void {
  holdConnection(connOf(client))
}

/** holdWrites, by the connection's stream */
export function holdConnection (stream: NodeJS.WritableStream | Duplex): void {
  const c = stream as Corkable
  if (typeof c.cork !== 'function' || typeof c.write !== 'function') return
  if (open === null) {
    open = { conns: [], release: null }
    setImmediate(closeRound, open)
  }
  const owner = c[HELD]
  if (owner === undefined) {
    if (c[WRAPPED] !== true) flushWhenFull(c)
    c.cork()
  }
  if (owner !== open) {
    c[HELD] = open
    open.conns.push(c)
  }
  // aedes queues the write after this call: the release must move behind it even for a socket already held
  if (!moveQueued) {
    moveQueued = true
    process.nextTick(moveRelease)
  }
}

/**
 * The QoS 2 packets, and PUBLISHes written once a store write is done, are held as deliveries are: aedes writes
 * each from the continuation of its own store call (a PUBREC once the message is queued, a subscriber's PUBLISH
 * once its packet id is written, a PUBREL once that is, a PUBCOMP once the incoming packet is removed), and
 * every continuation of one group-commit batch runs in one turn — unheld, each packet was one system call: 2.4
 * socket writes per delivered QoS 2 message under the bench's pairs load, against 0.13 for QoS 1. Held, a
 * connection's packets of that turn share one write at its end. Nothing waits for a later turn: what is held
 * is written in the same event-loop iteration, after every write that was already due is on disk (holding
 * delays a packet, never sends one earlier than aedes would).
 */
export function holdProtocolWrites (): void {
  holdWritesOf(['publish', 'pubrec', 'pubrel', 'pubcomp'], holdConnection)
}

export function remoteAddressOf (client: Client): string | undefined {
  return client.req?.socket.remoteAddress ?? (client.conn as Socket).remoteAddress
}

/**
 * The QoS to deliver at: aedes 1.2 downgrades only for exact-topic subscriptions, so a QoS 1 wildcard
 * subscriber would get QoS 2, and retained messages arrive at their stored QoS. MQTT-3.8.4-6 says
 * min(published, granted), the granted QoS being the highest of the client's matching subscriptions.
 */
export function cappedQos (client: Client, packet: AedesPublishPacket): number {
  const subs = subscriptionsOf(client)
  const exact = subs[packet.topic]
  if (exact !== undefined && exact.qos >= packet.qos) return packet.qos
  let granted = -1
  for (const filter in subs) {
    const s = subs[filter]
    // a consumer group's `$share/{group}/{filter}` counts with its filter
    if (s !== undefined && s.qos > granted && matchTopic(filter.charCodeAt(0) === 36 ? readFilterOf(filter) : filter, packet.topic)) {
      granted = s.qos
      if (granted >= packet.qos) return packet.qos
    }
  }
  if (granted < 0) return packet.qos // not from a live subscription (e.g. offline replay before restore)
  // a stored (offline-queue) QoS>0 message needs an acknowledgement to leave the queue
  if (granted === 0 && !client.clean && !packet.retain) return 1
  return granted
}

/**
 * A refused CONNECT must leave the session of its client id alone. aedes sets `clean` from the CONNECT before
 * authenticate, and closing a clean client wipes the stored QoS 2 state of its id — another client's state,
 * when the refused CONNECT used someone else's id.
 */
export function keepSessionOfRefused (client: Client): void {
  markPersistent(client)
}

/** Ends a connection without publishing its will (aedes publishes it unless it saw a DISCONNECT). */
export function closeWithoutWill (client: Client): Promise<void> {
  markDisconnected(client)
  return new Promise((resolve) => client.close(() => resolve()))
}

/** the connected clients of this process by client id (aedes's own map) */
export function clientsById (broker: Aedes): Readonly<Record<string, Client | undefined>> {
  return clientsOf(broker)
}
