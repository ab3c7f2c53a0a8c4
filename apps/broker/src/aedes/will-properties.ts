// aedes 2.0.0-beta.1 (#1098): a will is published with the CONNECT's will properties as they are, Will Delay
// Interval included — a property a PUBLISH must not carry, so strict MQTT 5 subscribers reject the packet
// (and close). Warden removes it where a client's will enters publishWill (at close, after its delay, or at
// once past pendingSessionsLimit), before the hooks see it — a QoS 1 will is published from the hook
// pipeline (store-before-ack), not through broker.publish — and marks it as a will (a delayed will's client
// no longer holds it); and from every message entering broker.publish (a dead broker's stored will).
import type { Aedes } from 'aedes'
import type { PublishPacket } from 'aedes'
import { markWill } from './accessors.js'
import { brokerInternals } from './internals.js'
import { fn, patch } from './patch.js'

const dropDelay = (packet: PublishPacket): void => {
  const props = (packet as { properties?: { willDelayInterval?: number } }).properties
  if (props !== undefined && props !== null && props.willDelayInterval !== undefined) delete props.willDelayInterval
}

export function stripWillDelay (broker: Aedes): void {
  const b = brokerInternals(broker)
  patch(b, 'publishWill', fn(2), (publishWill) => (client, will) => {
    dropDelay(will)
    markWill(will)
    publishWill(client, will)
  }, 'aedes 2.0.0-beta.1 publishes a will with its Will Delay Interval (#1098); a delayed will is no longer its client\'s', 'broker')
  patch(b, 'publish', fn(3), (publish) => (packet, client, done) => {
    dropDelay(packet)
    publish(packet, client, done)
  }, 'aedes 2.0.0-beta.1 publishes a will with its Will Delay Interval (#1098)', 'broker')
}
