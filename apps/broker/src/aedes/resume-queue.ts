// aedes 2.0.0-beta.1 resume bug: an MQTT 5 CONNECT with Clean Start 0 and no Session Expiry Interval resumes
// the stored session (CONNACK sessionPresent 1) but aedes then clears its queued messages instead of sending
// them: the queue replay drops everything when `client.clean` is set, and beta.1 sets `clean` from the
// Session Expiry Interval (0: the session ends with this connection), not from Clean Start. The new
// session must still get the old one's messages (MQTT-3.1.2-5, -3.2.2-2). Warden lets aedes see the client as
// persistent from its CONNACK until its close begins, then as clean, so the session still ends with the
// connection. Not only until the replay is done: aedes stores a persistent client's PUBREL (and QoS 1/2
// delivery) before writing it and writes a clean client's at once, so a PUBREC answered once the client was
// clean again overtook one answered during the replay whose PUBREL was still being stored (MQTT-4.6.0-3).
// Persistent throughout, each acknowledged message also leaves the stored queue, which the resumed
// subscriptions go on filling while the client is connected.
import type { Aedes, Client } from 'aedes'
import { persistWhileConnected } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

const WHY = 'aedes 2.0.0-beta.1 drops the queue of a session resumed with no Session Expiry Interval'

export function keepQueueOnResume (broker: Aedes): void {
  const resuming = new WeakSet<object>()
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5 && packet.clean === false && !((packet.properties?.sessionExpiryInterval ?? 0) > 0)) resuming.add(client)
    preConnect(client, packet, cb)
  }, WHY, 'broker')
  broker.on('connackSent', (packet: { reasonCode?: number }, client: Client) => {
    // a refused CONNECT's client is left as it is (client-internals.ts keepSessionOfRefused), and so is one
    // whose close has begun meanwhile (its session is ending)
    if (resuming.delete(client) && packet.reasonCode === 0 && !client.closed) persistWhileConnected(client, WHY)
  })
}
