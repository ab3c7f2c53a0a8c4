// The QoS 1/2 PUBLISHes with RETAIN 1 that aedes 2.0.0-beta.1 sends a persistent session and does not record
// (lib/client.js deliverQoS skips outgoingUpdate for any packet with RETAIN 1, as if it were a retained message sent
// at subscribe time, which it never queued):
// - a live retained message that Retain As Published keeps RETAIN 1 (MQTT-3.3.1-12). The store never learnt its
//   packet id: the subscriber's PUBREC closed its connection and its PUBACK left the message queued, sent again at
//   each return. Such a delivery (it has a broker id) is handed to aedes with RETAIN 0, so that aedes records it as
//   any live delivery, and gets RETAIN 1 back as the store records it: the packet aedes then writes is that one, and
//   so is what a QoS 2 resend is read from (a QoS 1 resend is read from the queued message, which kept RETAIN 1).
// - a retained QoS 2 message sent at subscribe time (no broker id, in no queue; MQTT 3.1.1 too). Its PUBREC closed
//   the connection, the store knowing nothing of the id. It is given its packet id here, and its PUBREC is answered
//   with PUBREL without the store, as aedes does for a clean session: it is not kept across a reconnect.
import type { Client } from 'aedes'
import { nextPacketId, resumesSession } from './accessors.js'
import { clientInternals, type Deliver } from './internals.js'
import { fn, patch, patchClosure } from './patch.js'
import { takeQueuedIds, withQueuedId } from './queued-ids.js'
import { identityOf, type AedesStore } from './store.js'

interface Delivered { retain?: boolean, qos?: number, brokerId?: string | null, brokerCounter?: number }

/** per connection: the identities of the live retained deliveries handed to aedes with RETAIN 0, until written */
const unmarked = new WeakMap<object, Set<string>>()
/** per connection: the packet ids of retained QoS 2 messages sent at subscribe time, which no store holds */
const unqueued = new WeakMap<object, Set<number>>()

function setOf<T> (map: WeakMap<object, Set<T>>, client: object): Set<T> {
  let s = map.get(client)
  if (s === undefined) { s = new Set(); map.set(client, s) }
  return s
}

const WHY = 'aedes 2.0.0-beta.1 records no packet id for a QoS 1/2 PUBLISH with RETAIN 1 to a persistent session ' +
  '(Retain As Published, MQTT-3.3.1-12; retained at subscribe time): the subscriber\'s PUBREC closes its connection'

/**
 * Once aedes has the CONNECT's session (authenticated: before any subscription, live or restored, takes its
 * deliverQoS), for a persistent session only, MQTT 5 Clean Start 0 with no expiry included. A clean session
 * records nothing, and keeps aedes's own deliverQoS: no wrapper is made for it (a closure with its contexts,
 * ~150 bytes a connection). A clean session does not become persistent: a DISCONNECT cannot raise a Session
 * Expiry of 0 (disconnect-expiry.ts). The same wrapper hands aedes the packet id a QoS 2 message was given as it
 * was queued (queued-ids.ts): one closure a persistent connection, not two.
 */
export function recordRetainedDeliveries (client: Client): void {
  const c = clientInternals(client)
  // an MQTT 5 session resumed with no Session Expiry Interval is clean here (beta.1 sets `clean` from the expiry
  // alone) and persistent from its CONNACK until its close begins (resume-queue.ts): aedes stores its deliveries
  if (c.clean && !resumesSession(client)) return
  // aedes's deliverQoS is a closure over its client: called as it is, not bound
  patchClosure(c, 'deliverQoS', fn(2), (deliver): Deliver => (packet, cb) => {
    const p = packet as Delivered
    // a session made clean by its DISCONNECT (Session Expiry 0) records nothing either
    if (p.retain !== true || (p.qos ?? 0) === 0 || c.clean) {
      // with the packet id given when it was queued, if it was (queued-ids.ts)
      deliver(withQueuedId(client, packet), cb)
      return
    }
    if (p.brokerId === undefined || p.brokerId === null) {
      if (p.qos !== 2) { deliver(packet, cb); return }
      const messageId = nextPacketId(client)
      setOf(unqueued, client).add(messageId)
      deliver({ ...packet, messageId }, cb)
      return
    }
    const own = setOf(unmarked, client)
    const id = identityOf(p)
    own.add(id)
    // aedes calls back once the packet is written, or dropped: its outgoingUpdate came before
    deliver({ ...packet, retain: false }, () => { own.delete(id); cb() })
  }, WHY, 'client')
  takeQueuedIds(client)
}

const DONE = Promise.resolve()

/** Outermost on outgoingUpdate: every other wrapper sees such a delivery with its RETAIN 1 back. */
export function keepRetainedDeliveries (store: AedesStore): void {
  patch(store, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
    // any use of a packet id ends its use by a message sent at subscribe time: only that one's PUBREL skips the store
    if (packet.messageId !== undefined && unqueued.get(client)?.delete(packet.messageId) === true && packet.cmd === 'pubrel') return DONE
    if (packet.cmd === 'publish' && packet.retain !== true && unmarked.get(client)?.has(identityOf(packet)) === true) packet.retain = true
    return update(client, packet)
  }, WHY, 'persistence')
}
