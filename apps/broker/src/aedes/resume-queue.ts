// aedes 2.0.0-beta.1 resume bug: an MQTT 5 CONNECT with Clean Start 0 and no Session Expiry Interval resumes
// the stored session (CONNACK sessionPresent 1) but aedes then clears its queued messages instead of sending
// them: the queue replay drops everything when `client.clean` is set, and beta.1 sets `clean` from the
// Session Expiry Interval (0: the session ends with this connection), not from Clean Start. The new
// session must still get the old one's messages (MQTT-3.1.2-5, -3.2.2-2). Warden lets the replay see the
// client as persistent from its CONNACK until the replay is done (`clientReady`), then restores `clean`.
import type { Aedes, Client } from 'aedes'
import { brokerInternals, clientInternals } from './internals.js'
import { fn, patch } from './patch.js'

export function keepQueueOnResume (broker: Aedes): void {
  const resuming = new WeakSet<object>()
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5 && packet.clean === false && !((packet.properties?.sessionExpiryInterval ?? 0) > 0)) resuming.add(client)
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 drops the queue of a session resumed with no Session Expiry Interval', 'broker')
  broker.on('connackSent', (_packet: unknown, client: Client) => {
    if (resuming.has(client)) clientInternals(client).clean = false
  })
  broker.on('clientReady', (client: Client) => {
    if (resuming.delete(client)) clientInternals(client).clean = true
  })
  broker.on('clientDisconnect', (client: Client) => {
    if (resuming.delete(client)) clientInternals(client).clean = true
  })
}
