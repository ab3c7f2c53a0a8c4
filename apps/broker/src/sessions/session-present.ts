// CONNACK's sessionPresent for a persistent session that holds QoS 2 state but no subscription.
//
// aedes 1.2 (lib/handlers/connect.js, fetchSubs → restoreSubs) sets sessionPresent from the stored
// subscriptions alone, so a session with only a PUBREL awaiting PUBCOMP, an incoming QoS 2 message
// awaiting PUBREL or queued messages is answered 0 — and a client that trusts that (MQTT-3.2.2-2 says 1)
// throws its side of the QoS 2 flow away. aedes offers no hook into the CONNACK; the one value it reads
// is the subscription list: for such a session, the list aedes fetches at CONNECT (and only that fetch)
// gets one placeholder entry, which makes sessionPresent 1 and which the restore's authorizeSubscribe
// turns down before it subscribes anything.
import type { Aedes, Subscription } from 'aedes'
import { brokerInternals } from '../aedes/internals.js'
import { fn, patch } from '../aedes/patch.js'
import { mapRestoredSubscriptions } from '../aedes/session-fetch.js'
import type { AedesStore } from '../aedes/store.js'

const WHY = 'aedes sets CONNACK sessionPresent from stored subscriptions alone (MQTT-3.2.2-2)'

/** whether the store holds incoming QoS 2 packets (awaiting PUBREL) of a client */
export type HasIncoming = (clientId: string) => Promise<boolean>
/** the packet ids of the incoming QoS 2 packets (awaiting PUBREL) the store holds for a client */
export type IncomingIds = (clientId: string) => Promise<number[]>

const PLACEHOLDER: Subscription = Object.freeze({ topic: '$WARDEN/session-present', qos: 0 }) as Subscription

/** `incoming`: whether the store holds a client's incoming QoS 2 packets (level, redis: its own answer; memory: countIncoming) */
export function reportSessionState (broker: Aedes, p: AedesStore, incoming: HasIncoming): void {
  const b = brokerInternals(broker)
  const holdsState = async (clientId: string): Promise<boolean> => {
    // queued messages and PUBRELs awaiting PUBCOMP
    for await (const _ of p.outgoingStream({ id: clientId })) return true
    return await incoming(clientId)
  }
  // only aedes's fetch of a resuming session's subscriptions (aedes/session-fetch.ts), not Warden's own reads
  mapRestoredSubscriptions(broker, p, async (subs, session) => subs.length > 0 || !await holdsState(session.id) ? subs : [PLACEHOLDER], WHY)

  patch(b, 'authorizeSubscribe', fn(3), (authorizeSubscribe) => (client, sub, cb) => {
    if (sub === PLACEHOLDER) { cb(null, null); return }
    authorizeSubscribe(client, sub, cb)
  }, WHY, 'broker')
}

/** the memory store keeps nothing across restarts: counting its incoming packets in this process is exact */
export function countIncoming (p: AedesStore): { has: HasIncoming, ids: IncomingIds } {
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
  return {
    has: async (clientId) => held.has(clientId),
    ids: async (clientId) => [...(held.get(clientId) ?? [])].filter((id): id is number => id !== undefined)
  }
}
