// A message replayed from a returning session's queue carries the RETAIN flag its subscription gives a live delivery.
//
// MQTT-3.3.1-9 (3.1.1) and MQTT-3.3.1-12 (5.0): a PUBLISH sent because it matches an established subscription has
// RETAIN 0, unless (MQTT 5) that subscription has Retain As Published. aedes 2.0.0-beta.1 clears the flag on a live
// delivery (lib/handlers/subscribe.js, per subscription) but queues a message for a persistent session as published,
// and its queue replay (lib/handlers/connect.js emptyQueue) writes it as queued: a retained QoS 1/2 message queued
// while the subscriber was away, or sent live and left unacknowledged (QoS 1), came back with RETAIN 1 to every
// MQTT 3.1.1 subscriber and to every MQTT 5 subscription without Retain As Published.
// Decided as the queue is read for a connection, from the subscriptions aedes restored before its replay
// (restoreSubs runs before emptyQueue), not as it is written: one rule for the three stores, where a form per
// queue would have needed another field per queue on Redis (one message record serves all its queues) and a
// message's queue write split by form, which the QoS 2 guard's mark must not be (it goes to disk with the
// message's last queue write: qos2-guard.ts). A session's subscriptions cannot change while it is offline, so
// they are the ones the message was queued for. A message matching several of the session's subscriptions keeps
// RETAIN 1 if one of them has Retain As Published. A retained message sent at a new SUBSCRIBE (RETAIN 1,
// MQTT-3.3.1-8) is never queued, so never read here; a consumer group's copies are queued with RETAIN 0.
import { Readable } from 'node:stream'
import type { Client } from 'aedes'
import { subscriptionFilters, subscriptionsOf } from '../aedes/accessors.js'
import { fn, patch } from '../aedes/patch.js'
import { isConnection, type AedesStore } from '../aedes/store.js'
import { isMqtt5 } from '../aedes/v5-answers.js'
import { matchTopic } from '../policy/topic.js'

/** the filters of the client's subscriptions with Retain As Published (none for MQTT 3.1.1) */
function rapFilters (client: Client): string[] {
  const out: string[] = []
  if (!isMqtt5(client)) return out
  const subs = subscriptionsOf(client)
  for (const filter of subscriptionFilters(client)) {
    // a consumer group's `$share/` filter delivers through the group, not through this subscription
    if (subs[filter]?.rap === true && !filter.startsWith('$share/')) out.push(filter)
  }
  return out
}

/** topics decided per replay: a queue mostly holds messages of a few topics */
const MAX_DECIDED = 1024

/** one replay's rule: whether a retained message of `topic` keeps RETAIN 1 */
function keepsRetain (client: Client): (topic: string) => boolean {
  let filters: string[] | undefined
  const decided = new Map<string, boolean>()
  return (topic) => {
    filters ??= rapFilters(client)
    if (filters.length === 0) return false
    let keep = decided.get(topic)
    if (keep === undefined) {
      keep = filters.some((f) => matchTopic(f, topic))
      if (decided.size >= MAX_DECIDED) decided.clear()
      decided.set(topic, keep)
    }
    return keep
  }
}

export function setRetainOnReplay (store: AedesStore): void {
  patch(store, 'outgoingStream', fn(1), (stream) => (client) => {
    // a session read by its id alone (Warden's own reads) is shown as stored
    if (!isConnection(client)) return stream(client)
    const keeps = keepsRetain(client as Client)
    return Readable.from((async function * () {
      for await (const p of stream(client)) yield p.retain === true && !keeps(p.topic) ? { ...p, retain: false } : p
    })())
  }, 'aedes replays a queued retained message with RETAIN 1 to a subscription without Retain As Published (MQTT-3.3.1-9, -12)', 'persistence')
}
