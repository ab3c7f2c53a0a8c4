// A client's QoS 1 PUBLISHes are acknowledged in the order they came (MQTT-4.6.0-2; MQTT 3.1.1 4.6), refused ones
// included. An accepted one is acknowledged once stored (store-before-ack.ts); one answered at once (a refusal with
// `deniedPublish: drop`, a control request) had its PUBACK written at once, and among the publishes of one read it
// overtook the accepted ones before it (seen: 2, 4, 1, 3, 5).
//
// The answer itself is not delayed (aedes reads the connection's next packets once every packet of a read is
// answered); only the PUBACK's bytes are, as mqtt-packet writes them: the stage numbers each QoS 1 publish of a
// connection that comes from the wire (a counter, the number kept on the packet), the PUBACKs written are counted,
// and a PUBACK marked as answered at once (answeredAtOnce) whose turn has not come is held until the PUBACKs before
// it are written. A held PUBACK is dropped with its connection. Honest devices allocate nothing for it. (Handing
// every answer to aedes in call order, a slot and a callback per publish kept until answered, cost clean QoS 1
// about a sixth more CPU; delaying the answers stalled the connection's reads.)
import type { Client, PublishPacket } from 'aedes'
import type mqttPacket from 'mqtt-packet'
import { isWillOf } from '../aedes/accessors.js'
import { rewriteWrites, type WriteOptions } from '../aedes/packet-writes.js'
import { isStoredWill } from '../delivery/will-owner.js'
import type { HookStage } from './pipeline.js'

interface Held { readonly seq: number, readonly packet: mqttPacket.Packet, readonly opts: WriteOptions | undefined }

/** a connection's QoS 1 publishes numbered, the PUBACKs written, and those answered at once (by packet id) */
interface Order {
  calls: number
  acks: number
  atOnce: Map<number, number> | null
  held: Held[] | null
}

/** a QoS 1 publish's number among its connection's */
const SEQ = Symbol('warden.ackSeq')
interface Numbered { [SEQ]?: number }

/** by connection (the stream aedes writes to) */
const orders = new WeakMap<object, Order>()
let counting = false

function countPubacks (): void {
  if (counting) return
  counting = true
  rewriteWrites('puback', (packet, stream, opts, write) => {
    const o = orders.get(stream)
    if (o === undefined) return write(packet, stream, opts)
    if (o.atOnce !== null) {
      const id = (packet as { messageId?: number }).messageId ?? 0
      const seq = o.atOnce.get(id)
      if (seq !== undefined) {
        o.atOnce.delete(id)
        if (o.atOnce.size === 0) o.atOnce = null
        if (seq > o.acks) {
          // written as if sent (aedes goes on); out when the ones before it are
          const held = o.held ?? (o.held = [])
          let i = held.length
          while (i > 0 && (held[i - 1] as Held).seq > seq) i--
          held.splice(i, 0, { seq, packet, opts })
          return true
        }
      }
    }
    const written = write(packet, stream, opts)
    o.acks++
    const held = o.held
    if (held !== null) {
      while (held.length > 0 && (held[0] as Held).seq <= o.acks) {
        const h = held.shift() as Held
        write(h.packet, stream, h.opts)
        o.acks++
      }
      if (held.length === 0) o.held = null
    }
    return written
  })
}

/** numbers the QoS 1 publishes of each connection; outermost on authorizePublish (hook-stages.ts) */
export function ackOrder (): HookStage {
  countPubacks()
  return {
    name: 'ack-order',
    authorizePublish (client, packet, cb, next) {
      // from the wire only: a will (this client's, or a dead process's stored one aedes publishes with the live client
      // of its id) is not acknowledged; QoS 0 has no acknowledgement; QoS 2's PUBREC comes after the publish
      if (packet.qos === 1 && client !== null && !isWillOf(client, packet) && !isStoredWill(packet)) {
        const conn = client.conn
        let o = orders.get(conn)
        if (o === undefined) {
          o = { calls: 0, acks: 0, atOnce: null, held: null }
          orders.set(conn, o)
        }
        (packet as Numbered)[SEQ] = o.calls++
      }
      next(client, packet, cb)
    }
  }
}

/**
 * `client`'s QoS 1 `packet` is answered now, before the publishes ahead of it may be: its PUBACK (aedes's, or an
 * MQTT 5 reason code of Warden's) waits, as it is written, until theirs are. Call it before the answer.
 */
export function answeredAtOnce (client: Client, packet: PublishPacket): void {
  const seq = (packet as Numbered)[SEQ]
  if (seq === undefined || packet.qos !== 1) return
  const o = orders.get(client.conn)
  if (o === undefined || o.acks >= seq) return
  const atOnce = o.atOnce ?? (o.atOnce = new Map())
  atOnce.set(packet.messageId ?? 0, seq)
}
