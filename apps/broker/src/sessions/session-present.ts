// CONNACK's sessionPresent for a persistent session that holds QoS 2 state but no subscription.
//
// aedes 1.2 (lib/handlers/connect.js, fetchSubs → restoreSubs) sets sessionPresent from the stored
// subscriptions alone, so a session with only a PUBREL awaiting PUBCOMP, an incoming QoS 2 message
// awaiting PUBREL or queued messages is answered 0 — and a client that trusts that (MQTT-3.2.2-2 says 1)
// throws its side of the QoS 2 flow away. aedes offers no hook into the CONNACK; the one value it reads
// is the subscription list: for such a session, the list aedes fetches at CONNECT (and only that fetch)
// gets one placeholder entry, which makes sessionPresent 1 and which the restore's authorizeSubscribe
// turns down before it subscribes anything.
import type { Aedes, Client, Subscription } from 'aedes'
import { clientOfConn, resumesSession } from '../aedes/accessors.js'
import { onConnectionClose, watchClose } from '../aedes/close-hooks.js'
import { brokerInternals } from '../aedes/internals.js'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'

const WHY = 'aedes sets CONNACK sessionPresent from stored subscriptions alone (MQTT-3.2.2-2)'

/** whether the store holds incoming QoS 2 packets (awaiting PUBREL) of a client */
export type HasIncoming = (clientId: string) => Promise<boolean>

const PLACEHOLDER: Subscription = Object.freeze({ topic: '$WARDEN/session-present', qos: 0 }) as Subscription

/** `hasIncoming`: the store's own answer (level, redis); without it (memory) they are counted here */
export function reportSessionState (broker: Aedes, p: AedesStore, hasIncoming?: HasIncoming): void {
  const b = brokerInternals(broker)
  const incoming = hasIncoming ?? countIncoming(p)
  /** persistent clients authenticated whose subscriptions aedes is about to fetch, by client id */
  const connecting = new Map<string, Client>()

  // a socket closed now never gets to the fetch: forget it (unless a newer login took the id). A close hook
  // (aedes/close-hooks.ts), not a listener made in authenticate's callback, which would keep every caller's callback
  onConnectionClose(broker, (conn) => {
    const client = clientOfConn(conn) as Client | undefined
    if (client !== undefined && connecting.get(client.id) === client) connecting.delete(client.id)
  })

  patch(b, 'authenticate', fn(4), (authenticate) => (client, username, password, cb) => {
    authenticate(client, username, password, (err, ok) => {
      // MQTT 5: Clean Start 0 resumes, whatever the Session Expiry (aedes's `clean`) of the new session
      if (err === null && ok === true && resumesSession(client)) {
        connecting.set(client.id, client)
        watchClose(broker, client.conn)
      }
      cb(err, ok)
    })
  }, WHY, 'broker')

  patch(p, 'subscriptionsByClient', fn(2), (fetch) => async (client) => {
    const subs = await fetch(client)
    if (!connecting.delete(client.id) || subs.length > 0) return subs
    return await holdsState(client.id) ? [PLACEHOLDER] : subs
  }, WHY, 'persistence')

  const holdsState = async (clientId: string): Promise<boolean> => {
    // queued messages and PUBRELs awaiting PUBCOMP
    for await (const _ of p.outgoingStream({ id: clientId })) return true
    return await incoming(clientId)
  }

  patch(b, 'authorizeSubscribe', fn(3), (authorizeSubscribe) => (client, sub, cb) => {
    if (sub === PLACEHOLDER) { cb(null, null); return }
    authorizeSubscribe(client, sub, cb)
  }, WHY, 'broker')
}

/** the memory store keeps nothing across restarts: counting its incoming packets in this process is exact */
function countIncoming (p: AedesStore): HasIncoming {
  const held = new Map<string, Set<number | undefined>>()
  const why = 'the memory store cannot say whether a client has incoming QoS 2 packets'
  patch(p, 'incomingStorePacket', fn(3), (store) => async (client, packet) => {
    await store(client, packet)
    let ids = held.get(client.id)
    if (ids === undefined) held.set(client.id, ids = new Set())
    ids.add(packet.messageId)
  }, why, 'persistence')
  patch(p, 'incomingDelPacket', fn(3), (del) => async (client, packet) => {
    await del(client, packet)
    const ids = held.get(client.id)
    if (ids?.delete(packet.messageId) === true && ids.size === 0) held.delete(client.id)
  }, why, 'persistence')
  if (p.cleanIncoming !== undefined) {
    patch(p, 'cleanIncoming', fn(2), (clean) => async (client) => { await clean?.(client); held.delete(client.id) }, why, 'persistence')
  }
  return async (clientId) => held.has(clientId)
}
