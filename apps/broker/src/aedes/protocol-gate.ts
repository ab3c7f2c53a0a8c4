// MQTT 5 stays refused until issue #15 slice (a) is green: aedes 2.0.0-beta.1 accepts a v5 CONNECT, but
// Warden's hooks answer refusals the 3.1.1 way (a denied publish gets PUBACK 0x00 in `drop` mode) and the
// beta lacks fixes Warden needs. The refusal is the one aedes 1.2 gave: CONNACK return code 1
// ("unacceptable protocol version") in 3.1.1 framing, then close.
import type { Aedes } from 'aedes'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

/** below 3: aedes answers CONNACK 1 and, knowing no such version, frames it as 3.1.1 */
const REFUSED_LEVEL = 0

export function refuseMqtt5 (broker: Aedes): void {
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5) (packet as { protocolVersion: number }).protocolVersion = REFUSED_LEVEL
    preConnect(client, packet, cb)
  }, 'aedes 2 accepts MQTT 5 clients; Warden does not answer them correctly yet (issue #15)', 'broker')
}
