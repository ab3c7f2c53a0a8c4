// aedes 2.0.0-beta.1 resume bug: an MQTT 5 CONNECT with Clean Start 0 and no Session Expiry Interval resumes
// the stored session (CONNACK sessionPresent 1) but aedes then clears its queued messages instead of sending
// them: the queue replay drops everything when `client.clean` is set, and beta.1 sets `clean` from the
// Session Expiry Interval (0: the session ends with this connection), not from Clean Start. The new
// session must still get the old one's messages (MQTT-3.1.2-5, -3.2.2-2). Warden lets aedes see the client as
// persistent from its subscriptions' restore (aedes's fetch of them, before the CONNACK) until its close begins,
// then as clean, so the session still ends with the connection. Not only from its CONNACK: the restored
// subscriptions are live at once, and a message published before the CONNACK went to a clean client, written with
// no packet id recorded: the queue replay sent it again under another (at QoS 2 a second message), and the
// client's PUBREC for the first copy closed the connection. Not only until the replay is done: aedes stores a
// persistent client's PUBREL (and QoS 1/2 delivery) before writing it and writes a clean client's at once, so a
// PUBREC answered once the client was clean again overtook one answered during the replay whose PUBREL was still
// being stored (MQTT-4.6.0-3).
// Persistent throughout, each acknowledged message also leaves the stored queue, which the resumed
// subscriptions go on filling while the client is connected.
import type { Aedes } from 'aedes'
import { persistWhileConnected } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'
import { mapRestoredSubscriptions } from './session-fetch.js'
import type { AedesStore } from './store.js'

const WHY = 'aedes 2.0.0-beta.1 drops the queue of a session resumed with no Session Expiry Interval'

export function keepQueueOnResume (broker: Aedes, store: AedesStore): void {
  const resuming = new WeakSet<object>()
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5 && packet.clean === false && !((packet.properties?.sessionExpiryInterval ?? 0) > 0)) resuming.add(client)
    preConnect(client, packet, cb)
  }, WHY, 'broker')
  // authenticated (a refused CONNECT's client is left as it is: client-internals.ts keepSessionOfRefused), about to
  // be restored; not one whose close has begun meanwhile (its session is ending)
  mapRestoredSubscriptions(broker, store, (subs, _session, client) => {
    if (resuming.delete(client) && !client.closed) persistWhileConnected(client, WHY)
    return subs
  }, WHY)
}
