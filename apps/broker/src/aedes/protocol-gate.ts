// `mqtt5: false`: the broker stays 3.1.1-only, as with aedes 1.2 (aedes 2.0.0-beta.1 accepts a v5 CONNECT).
// The refusal is the one aedes 1.2 gave: CONNACK return code 1 ("unacceptable protocol version") in 3.1.1
// framing, then close.
import type { Aedes } from 'aedes'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

/** below 3: aedes answers CONNACK 1 and, knowing no such version, frames it as 3.1.1 */
const REFUSED_LEVEL = 0

export function refuseMqtt5 (broker: Aedes): void {
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5) (packet as { protocolVersion: number }).protocolVersion = REFUSED_LEVEL
    preConnect(client, packet, cb)
  }, 'aedes 2 accepts MQTT 5 clients; mqtt5: false refuses them', 'broker')
}
