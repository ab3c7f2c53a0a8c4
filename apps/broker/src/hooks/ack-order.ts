// A client's QoS 1 PUBLISHes are acknowledged in the order they came, and its QoS 2 PUBLISHes answered with PUBREC
// in the order they came (MQTT-4.6.0-2, -3; MQTT 3.1.1 4.6). aedes handles the packets of one read side by side and
// writes each answer when its publish is through: one that waits for the store (a persistent subscriber's queue,
// store-before-ack.ts) or for flow control was overtaken by the ones after it that did not (PUBACKs seen 2, 3, 4, 1;
// PUBRECs 3, 2, 4, 5, 1, 6), and a refusal answered at once (`deniedPublish: drop`, a control request) overtook the
// accepted ones before it (seen: 2, 4, 1, 3, 5).
//
// The answers themselves are not delayed (aedes reads the connection's next packets once every packet of a read is
// answered); only their bytes are, as mqtt-packet writes them: the stage keeps the packet ids of each connection's
// QoS 1 and QoS 2 publishes from the wire in arrival order (a list per QoS), and a PUBACK or PUBREC whose publish is
// not the oldest one of its QoS unanswered is held until those before it are written. A held one is dropped with its
// connection. In order, as a lone publish or a read answered in turn always is, an answer costs a comparison.
// (Handing every answer to aedes in call order, a slot and a callback per publish kept until answered, cost clean
// QoS 1 about a sixth more CPU; delaying the answers stalled the connection's reads.)
import type mqttPacket from 'mqtt-packet'
import { isWillOf } from '../aedes/accessors.js'
import { rewriteWrites, type WriteOptions, type WriteToStream } from '../aedes/packet-writes.js'
import { isStoredWill } from '../delivery/will-owner.js'
import type { HookStage } from './pipeline.js'

interface Held { readonly packet: mqttPacket.Packet, readonly opts: WriteOptions | undefined }

/** a connection's publishes of one QoS not yet answered: their packet ids in arrival order from `head` on */
interface Order {
  ids: number[]
  head: number
  /** answers written early, by packet id (a client may, wrongly, reuse an id before its answer: a list each) */
  held: Map<number, Held[]> | null
}

/** by connection (the stream aedes writes to): QoS 1 publishes (PUBACK), QoS 2 publishes (PUBREC) */
const byQos = [new WeakMap<object, Order>(), new WeakMap<object, Order>()] as const
let counting = false

const idOf = (packet: mqttPacket.Packet): number => (packet as { messageId?: number }).messageId ?? 0

/** the id at `o.head` is acknowledged: the next ones' held PUBACKs go out while they are in turn */
function advance (o: Order, stream: NodeJS.WritableStream, write: WriteToStream): void {
  o.head++
  const held = o.held
  if (held !== null) {
    for (;;) {
      const id = o.ids[o.head]
      const waiting = id === undefined ? undefined : held.get(id)
      if (waiting === undefined) break
      const h = waiting.shift() as Held
      if (waiting.length === 0) held.delete(id as number)
      write(h.packet, stream, h.opts)
      o.head++
    }
    if (held.size === 0) o.held = null
  }
  if (o.head === o.ids.length) {
    o.ids.length = 0
    o.head = 0
  } else if (o.head >= 64 && o.head * 2 >= o.ids.length) {
    // a client that keeps publishing never empties the list: what is behind the head goes now and then
    o.ids.splice(0, o.head)
    o.head = 0
  }
}

/** routes the written answers of one QoS (`cmd`) through the order of their publishes */
function ordered (cmd: 'puback' | 'pubrec', orders: WeakMap<object, Order>): void {
  rewriteWrites(cmd, (packet, stream, opts, write) => {
    const o = orders.get(stream)
    if (o === undefined || o.head === o.ids.length) return write(packet, stream, opts)
    const id = idOf(packet)
    if (o.ids[o.head] === id) {
      const written = write(packet, stream, opts)
      advance(o, stream, write)
      return written
    }
    // not a publish this connection is waiting on (a QoS 2 one answered before, sent again): nothing to keep it behind
    if (o.ids.indexOf(id, o.head + 1) === -1) return write(packet, stream, opts)
    // written as if sent (aedes goes on); out when the ones before it are
    const held = o.held ?? (o.held = new Map())
    const same = held.get(id)
    if (same === undefined) held.set(id, [{ packet, opts }]); else same.push({ packet, opts })
    return true
  })
}

/** keeps the packet ids of each connection's QoS 1 and 2 publishes in order; outermost on authorizePublish (hook-stages.ts) */
export function ackOrder (): HookStage {
  if (!counting) {
    counting = true
    ordered('puback', byQos[0])
    ordered('pubrec', byQos[1])
  }
  return {
    name: 'ack-order',
    authorizePublish (client, packet, cb, next) {
      // from the wire only: a will (this client's, or a dead process's stored one aedes publishes with the live client
      // of its id) is not answered; QoS 0 has no answer
      if (packet.qos !== 0 && client !== null && !isWillOf(client, packet) && !isStoredWill(packet)) {
        const orders = byQos[packet.qos - 1] as WeakMap<object, Order>
        const conn = client.conn
        let o = orders.get(conn)
        if (o === undefined) {
          o = { ids: [], head: 0, held: null }
          orders.set(conn, o)
        }
        o.ids.push(packet.messageId ?? 0)
      }
      next(client, packet, cb)
    }
  }
}
