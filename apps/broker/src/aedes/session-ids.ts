// What a connection's session holds of packet ids (packet-ids.ts), kept from the store's calls: the ids stored
// before this connection, read as aedes fetches the session it resumes; every id a delivery is recorded under
// (a stored message sent again under its own); and each id the store clears (PUBACK, PUBCOMP, a message dropped)
// is free again. Only aedes clients hold ids: Warden's own calls with `{ id }` change nothing.
import type { Aedes, Client } from 'aedes'
import type mqttPacket from 'mqtt-packet'
import { fn, patch } from './patch.js'
import { holdPacketId, holdStoredIds, keepIdsOf, releasePacketId } from './packet-ids.js'
import { mapRestoredSubscriptions } from './session-fetch.js'
import { isConnection, type AedesStore } from './store.js'

/** the packet ids the store holds for a session (its queued messages sent under an id, its PUBRELs) */
export type StoredIds = (clientId: string) => Promise<Iterable<number>>

const WHY = 'aedes gives a new message a packet id a message of the session still holds (MQTT-2.2.1-3, MQTT-4.4.0-1)'

/** outermost on outgoingClearMessageId (it must see a clean session's acknowledgements: clean-acks.ts skips the store) */
export function keepSessionIds (broker: Aedes, store: AedesStore, storedIds: StoredIds): void {
  keepIdsOf(broker)
  // before aedes restores the session's subscriptions: no delivery of this connection has an id yet
  mapRestoredSubscriptions(broker, store, async (subs, session, client) => {
    holdStoredIds(client, await storedIds(session.id))
    return subs
  }, WHY)
  patch(store, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
    if (packet.messageId !== undefined && isConnection(client)) holdPacketId(client, packet.messageId)
    return update(client, packet)
  }, WHY, 'persistence')
  patch(store, 'outgoingClearMessageId', fn(3), (clear) => (client, packet) => {
    releasePacketId(client, packet.messageId)
    return clear(client, packet)
  }, WHY, 'persistence')
}

/** MQTT 5: a PUBREC with a reason code of 0x80 or more ends the QoS 2 flow (§4.3.3) */
const REFUSED = 0x80

/**
 * An MQTT 5 client's packet, before aedes handles it (v5-packets.ts). A clean session's PUBREC refusing a message
 * frees its id: aedes asks the store to clear it only for a persistent session (lib/handlers/pubrec.js), and a
 * client that refuses many would otherwise leave them all held for as long as it stays connected.
 */
export function freeRefusedIds (client: Client, packet: mqttPacket.Packet): void {
  if (packet.cmd === 'pubrec' && (packet.reasonCode ?? 0) >= REFUSED && client.clean) releasePacketId(client, packet.messageId)
}
