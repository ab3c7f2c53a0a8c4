// A client's QoS 1 PUBLISHes are acknowledged in the order they came (MQTT-4.6.0-2; MQTT 3.1.1 4.6), refused ones
// included. An accepted one is acknowledged once stored (store-before-ack.ts); a refused one (`drop`) would be
// answered as soon as it is refused, and among the publishes of one read its PUBACK overtook the accepted ones
// before it (seen: 2, 4, 1, 3, 5). A refusal's answer now waits until every earlier QoS 1 publish of the connection
// has its PUBACK.
//
// Honest devices pay no allocation for it: the stage numbers each QoS 1 publish of a connection (a counter, the
// number kept on the packet) and the PUBACKs written on it are counted as mqtt-packet writes them; only a refusal
// that must wait is kept, in a list of its connection's. (Handing every answer to aedes in call order, a slot and a
// callback per publish kept until answered, cost clean QoS 1 about a sixth more CPU.)
import type { Client, PublishPacket } from 'aedes'
import { isWillOf } from '../aedes/accessors.js'
import { rewriteWrites } from '../aedes/packet-writes.js'
import type { HookStage } from './pipeline.js'

/** a connection's QoS 1 publishes numbered, the PUBACKs written, and the refusals waiting for their turn */
interface Order {
  calls: number
  acks: number
  waiting: Array<{ readonly seq: number, readonly answer: () => void }> | null
  releasing: boolean
}

/** a QoS 1 publish's number among its connection's */
const SEQ = Symbol('warden.ackSeq')
interface Numbered { [SEQ]?: number }

/** by connection (the stream aedes writes to) */
const orders = new WeakMap<object, Order>()
let counting = false

function release (o: Order): void {
  const waiting = o.waiting
  if (o.releasing || waiting === null) return
  o.releasing = true
  try {
    // each answer writes a PUBACK, which is counted (acks) before the next is looked at
    while (waiting.length > 0 && (waiting[0] as { seq: number }).seq <= o.acks) (waiting.shift() as { answer: () => void }).answer()
  } finally {
    o.releasing = false
  }
}

/** numbers the QoS 1 publishes of each connection; outermost on authorizePublish (hook-stages.ts) */
export function ackOrder (): HookStage {
  if (!counting) {
    counting = true
    rewriteWrites('puback', (packet, stream, opts, write) => {
      const written = write(packet, stream, opts)
      const o = orders.get(stream)
      if (o !== undefined) {
        o.acks++
        if (o.waiting !== null) release(o)
      }
      return written
    })
  }
  return {
    name: 'ack-order',
    authorizePublish (client, packet, cb, next) {
      // a will is not acknowledged; QoS 0 has none; QoS 2's PUBREC comes after the publish
      if (packet.qos === 1 && client !== null && !isWillOf(client, packet)) {
        const conn = client.conn
        let o = orders.get(conn)
        if (o === undefined) {
          o = { calls: 0, acks: 0, waiting: null, releasing: false }
          orders.set(conn, o)
        }
        (packet as Numbered)[SEQ] = o.calls++
      }
      next(client, packet, cb)
    }
  }
}

/**
 * `answer` (which writes the PUBACK of `client`'s refused `packet`, or has aedes write it) runs once every earlier
 * QoS 1 publish of the connection has its PUBACK: now, or when the last of them is written
 */
export function answerInTurn (client: Client, packet: PublishPacket, answer: () => void): void {
  const seq = (packet as Numbered)[SEQ]
  const o = seq === undefined ? undefined : orders.get(client.conn)
  if (o === undefined || seq === undefined || o.acks >= seq) { answer(); return }
  const waiting = o.waiting ?? (o.waiting = [])
  let i = waiting.length
  while (i > 0 && (waiting[i - 1] as { seq: number }).seq > seq) i--
  waiting.splice(i, 0, { seq, answer })
}
