// Fixes the in-memory store (aedes-persistence 11) losing QoS 2 messages to persistent subscribers.
//
// After a subscriber's PUBREC, aedes replaces the stored PUBLISH with a PUBREL through outgoingUpdate. The
// memory store matches entries on (broker id, counter) first, and a PUBREL carries neither: an earlier
// PUBREL still stored (its PUBCOMP not in yet) matches any later one, gets the later packet id written into
// it — the very object aedes is about to write — and the later PUBLISH entry is never replaced. With
// PUBRECs back to back (a burst, an offline queue replayed) a subscriber gets one PUBREL twice and another
// never: MQTT.js never delivers that message (a probe: 99 of 100 queued QoS 2 messages). Each PUBREL is
// stored as its own copy, with an identity that matches no other entry; the store then finds the PUBLISH
// to replace by packet id, as intended.

import { fn, patch } from '../aedes/patch.js'
import type { AedesStore } from '../aedes/store.js'

const PUBREL_BROKER_ID = '\u0000warden-pubrel'

export function storePubrelsApart (store: AedesStore): void {
  let counter = 0
  patch(store, 'outgoingUpdate', fn(3), (update) => async (client, packet) => {
    if (packet.cmd !== 'pubrel' || packet.brokerId !== undefined) return await update(client, packet)
    return await update(client, { ...packet, brokerId: PUBREL_BROKER_ID, brokerCounter: ++counter })
  }, 'the memory store matches a PUBREL to any earlier stored PUBREL and loses a QoS 2 message', 'persistence')
}
