// GHSA-5jvp-3p2v-5qgf on aedes 2.0.0-beta.1: `maxInflightInbound` is gone, so a client that sends QoS 2
// PUBLISHes with fresh message ids and never sends PUBREL grows its incoming store without bound. Warden
// counts, per connection, the message ids it has stored awaiting PUBREL, and refuses the one past the
// limit: a 3.1.1 client is disconnected (it has no reason code to hear), an MQTT 5 client is told
// DISCONNECT 0x93 (Receive Maximum exceeded). A retransmission of an id already counted takes no new slot.
import type { Client } from 'aedes'
import type { AedesStore, Session } from './store.js'
import { disconnectWith, isMqtt5 } from './v5-answers.js'
import { fn, patch } from './patch.js'

const RECEIVE_MAXIMUM_EXCEEDED = 0x93
const WHY = 'aedes 2.0.0-beta.1 dropped maxInflightInbound (GHSA-5jvp-3p2v-5qgf)'

/** aedes passes its Client; Warden's own calls pass `{ id }` sessions, which are not counted */
const isClient = (s: Session): s is Session & Client => 'conn' in s && 'broker' in s

export class InboundWindowExceeded extends Error {
  constructor (readonly limit: number) { super(`more than ${limit} inbound QoS 2 messages awaiting PUBREL`) }
}

/** `limit` 0 turns the bound off, as aedes 1.2's option did */
export function boundInboundQos2 (store: AedesStore, limit: number): void {
  if (limit <= 0) return
  const held = new WeakMap<Client, Set<number>>()
  // not async functions: every QoS 2 message passes both, and each await was a promise more
  patch(store, 'incomingStorePacket', fn(3), (put) => (session, packet) => {
    if (!isClient(session) || packet.messageId === undefined) return put(session, packet)
    let ids = held.get(session)
    if (ids === undefined) held.set(session, ids = new Set())
    const id = packet.messageId
    // reserved before the store is called: a socket read dispatches all its packets at once
    if (!ids.has(id) && ids.size >= limit) {
      // a v5 client hears why before aedes ends the connection for the failed store
      const told = isMqtt5(session) ? disconnectWith(session, RECEIVE_MAXIMUM_EXCEEDED) : Promise.resolve()
      return told.then(() => { throw new InboundWindowExceeded(limit) })
    }
    ids.add(id)
    const own = ids
    let stored: Promise<void>
    try {
      stored = put(session, packet)
    } catch (err) {
      own.delete(id)
      return Promise.reject(err)
    }
    return stored.then(undefined, (err: unknown) => {
      own.delete(id)
      throw err
    })
  }, WHY, 'persistence')
  patch(store, 'incomingDelPacket', fn(3), (del) => (session, packet) => {
    if (!isClient(session) || packet.messageId === undefined) return del(session, packet)
    const id = packet.messageId
    return del(session, packet).then(() => { held.get(session)?.delete(id) })
  }, WHY, 'persistence')
}
