// The in-memory store (aedes-persistence 11) sends a resumed session a message twice when its publish crosses the
// session's return. It knows no connection: its queue read as a session resumes is a copy of the queue taken then,
// holding what the connection is sent live meanwhile (sent again from the copy), and it records a live copy of a
// message the read sent under a second packet id (sent again live; at QoS 2 a second message). Warden's level and
// Redis stores tell these apart themselves (level-queues.ts, redis-queues.ts); for this one, what each aedes
// connection has in flight is kept beside it, by message identity (<brokerId>:<counter>), until acknowledged.
import { Readable } from 'node:stream'
import { fn, patch } from '../aedes/patch.js'
import { identityOf, isConnection, isOpenConnection, noSuchPacket, type AedesStore, type StoredPacket } from '../aedes/store.js'

/** a connection's messages in flight: identity by packet id, and packet id by identity */
interface InFlight { readonly ids: Map<number, string>, readonly identities: Map<string, number> }

/** the answer aedes/unqueued-deliveries.ts skips a delivery on (the memory store's own for an entry it lacks) */

export function sendOncePerConnection (store: AedesStore): void {
  const byConn = new WeakMap<object, InFlight>()
  const heldUnder = (f: InFlight | undefined, identity: string): number | undefined => {
    const id = f?.identities.get(identity)
    return id !== undefined && f?.ids.get(id) === identity ? id : undefined
  }
  const WHY = 'the memory store sends a resumed session from its queue what it was sent live meanwhile, and the other way round'
  patch(store, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
    const messageId = packet.messageId
    if (packet.cmd !== 'publish' || packet.brokerId === undefined || packet.brokerId === null || messageId === undefined || !isConnection(client)) {
      return update(client, packet)
    }
    let f = byConn.get(client)
    if (f === undefined) byConn.set(client, f = { ids: new Map(), identities: new Map() })
    const identity = identityOf(packet)
    const held = heldUnder(f, identity)
    // in flight under another id: the second copy is not sent
    if (held !== undefined && held !== messageId) return Promise.reject(noSuchPacket())
    f.ids.set(messageId, identity)
    f.identities.set(identity, messageId)
    const own = f
    return update(client, packet).catch((err: unknown) => {
      if (own.ids.get(messageId) === identity) own.ids.delete(messageId)
      if (own.identities.get(identity) === messageId) own.identities.delete(identity)
      throw err
    })
  }, WHY, 'persistence')
  patch(store, 'outgoingClearMessageId', fn(3), (clear) => (client, packet) => {
    const f = byConn.get(client)
    const messageId = packet.messageId ?? 0
    const identity = f?.ids.get(messageId)
    if (f !== undefined && identity !== undefined) {
      f.ids.delete(messageId)
      if (f.identities.get(identity) === messageId) f.identities.delete(identity)
    }
    return clear(client, packet)
  }, WHY, 'persistence')
  patch(store, 'outgoingStream', fn(1), (stream) => (client) => {
    const read = stream(client)
    if (!isOpenConnection(client)) return read
    return Readable.from((async function * () {
      for await (const p of read as AsyncIterable<StoredPacket>) {
        if (p.cmd !== undefined && p.cmd !== 'publish') { yield p; continue }
        // sent on this connection already (live, once its subscriptions were restored): in flight
        if (heldUnder(byConn.get(client), identityOf(p)) !== undefined) continue
        // a copy: the store's own entry takes the packet id of a live copy recorded after this read, which aedes
        // would then send this one under too, as if it were that copy
        yield { ...p }
      }
    })())
  }, WHY, 'persistence')
}
