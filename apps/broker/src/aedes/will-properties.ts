// aedes 2.0.0-beta.1 (#1098): a will is published with the CONNECT's will properties as they are, Will Delay
// Interval included — a property a PUBLISH must not carry, so strict MQTT 5 subscribers reject the packet
// (and close). Warden removes it from every message entering broker.publish: a client's will, a delayed
// will, and a dead broker's stored will published by this one. No other PUBLISH can carry it.
import type { Aedes } from 'aedes'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

export function stripWillDelay (broker: Aedes): void {
  patch(brokerInternals(broker), 'publish', fn(3), (publish) => (packet, client, done) => {
    const props = (packet as { properties?: { willDelayInterval?: number } }).properties
    if (props !== undefined && props !== null && props.willDelayInterval !== undefined) delete props.willDelayInterval
    publish(packet, client, done)
  }, 'aedes 2.0.0-beta.1 publishes a will with its Will Delay Interval (#1098)', 'broker')
}
