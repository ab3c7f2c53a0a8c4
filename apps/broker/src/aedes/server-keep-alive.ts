// MQTT 5 Server Keep Alive (limits.maxKeepAliveSeconds): an MQTT 5 client asking for a longer keepalive, or
// none (0), is told the broker's in its CONNACK and held to it (MQTT-3.2.2-21). aedes's own keepaliveLimit
// does this for v5 but refuses every 3.1.1 client asking for more, or for 0, with a return code 3.1.1 does not
// have: 3.1.1 clients keep their keepalive, as before.
import type { Aedes } from 'aedes'
import { imposeKeepAlive } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

export function limitKeepAlive (broker: Aedes, maxSeconds: number): void {
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    if (packet.protocolVersion === 5 && ((packet.keepalive ?? 0) === 0 || (packet.keepalive ?? 0) > maxSeconds)) imposeKeepAlive(client, maxSeconds)
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 imposes a keepalive limit on MQTT 5 clients only with keepaliveLimit, which refuses 3.1.1 clients over it', 'broker')
}
