// GHSA-5jvp-3p2v-5qgf on aedes 2.0.0-beta.1: `maxInflightInbound` is gone, so a client that sends QoS 2
// PUBLISHes with fresh message ids and never sends PUBREL grows its incoming store without bound. Warden
// counts, per connection, the message ids it has stored awaiting PUBREL, and refuses the one past the
// limit: a 3.1.1 client is disconnected (it has no reason code to hear), an MQTT 5 client is told
// DISCONNECT 0x93 (Receive Maximum exceeded). A retransmission of an id already counted takes no new slot. A
// resumed session's count starts from the ids its store holds, not from nothing.
import type { Client } from 'aedes'
import type { AedesStore, Session, StoredPacket } from './store.js'
import { resumesSession } from './accessors.js'
import { disconnectWith, isMqtt5 } from './v5-answers.js'
import { fn, patch } from './patch.js'

const RECEIVE_MAXIMUM_EXCEEDED = 0x93
const WHY = 'aedes 2.0.0-beta.1 dropped maxInflightInbound (GHSA-5jvp-3p2v-5qgf)'

/** aedes passes its Client; Warden's own calls pass `{ id }` sessions, which are not counted */
const isClient = (s: Session): s is Session & Client => 'conn' in s && 'broker' in s

export class InboundWindowExceeded extends Error {
  constructor (readonly limit: number) { super(`more than ${limit} inbound QoS 2 messages awaiting PUBREL`) }
}

/**
 * `limit` 0 turns the bound off, as aedes 1.2's option did. `storedIds`: the ids the store holds for a client id,
 * read at a resumed session's first new QoS 2 message — those its earlier connections left awaiting PUBREL are its
 * own still (counted from nothing at each CONNECT, a device reconnecting with Clean Session 0 stored `limit` more
 * each time). A clean session starts with none (clean-incoming.ts clears the table).
 */
export function boundInboundQos2 (store: AedesStore, limit: number, storedIds?: (clientId: string) => Promise<number[]>): void {
  if (limit <= 0) return
  const held = new WeakMap<Client, Set<number>>()
  /** a resumed session's window while its stored ids are read */
  const reading = new WeakMap<Client, Promise<Set<number>>>()
  const windowOf = (client: Client): Set<number> | Promise<Set<number>> => {
    const ids = held.get(client)
    if (ids !== undefined) return ids
    if (storedIds === undefined || !resumesSession(client)) {
      const fresh = new Set<number>()
      held.set(client, fresh)
      return fresh
    }
    let read = reading.get(client)
    if (read === undefined) {
      const seeded = (stored: Iterable<number>): Set<number> => {
        const ids = new Set(stored)
        held.set(client, ids)
        reading.delete(client)
        return ids
      }
      read = storedIds(client.id).then(seeded, () => seeded([]))
      reading.set(client, read)
    }
    return read
  }
  const admit = (ids: Set<number>, session: Session & Client, packet: StoredPacket, put: AedesStore['incomingStorePacket']): Promise<void> => {
    const id = packet.messageId as number
    // reserved before the store is called: a socket read dispatches all its packets at once
    if (!ids.has(id) && ids.size >= limit) {
      // a v5 client hears why before aedes ends the connection for the failed store
      const told = isMqtt5(session) ? disconnectWith(session, RECEIVE_MAXIMUM_EXCEEDED) : Promise.resolve()
      return told.then(() => { throw new InboundWindowExceeded(limit) })
    }
    ids.add(id)
    let stored: Promise<void>
    try {
      stored = put(session, packet)
    } catch (err) {
      ids.delete(id)
      return Promise.reject(err)
    }
    return stored.then(undefined, (err: unknown) => {
      ids.delete(id)
      throw err
    })
  }
  // not async functions: every QoS 2 message passes both, and each await was a promise more
  patch(store, 'incomingStorePacket', fn(3), (put) => (session, packet) => {
    if (!isClient(session) || packet.messageId === undefined) return put(session, packet)
    const ids = windowOf(session)
    return ids instanceof Set ? admit(ids, session, packet, put) : ids.then((read) => admit(read, session, packet, put))
  }, WHY, 'persistence')
  patch(store, 'incomingDelPacket', fn(3), (del) => (session, packet) => {
    if (!isClient(session) || packet.messageId === undefined) return del(session, packet)
    const id = packet.messageId
    return del(session, packet).then(() => {
      const ids = held.get(session)
      // a PUBREL while the stored ids are read: out of them once they are in
      if (ids !== undefined) ids.delete(id); else void reading.get(session)?.then((read) => { read.delete(id) })
    })
  }, WHY, 'persistence')
}
