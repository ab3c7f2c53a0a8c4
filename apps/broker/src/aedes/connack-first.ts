// The first packet a client gets is its CONNACK (MQTT-3.2.0-1; MQTT 5 3.2.0). aedes 2.0.0-beta.1 restores a resumed
// session's subscriptions (restoreSubs) before it stores the will and sends the CONNACK, and writes to a client
// that is still connecting (lib/write.js): a message published in between reached the client before its CONNACK
// (aedes #80 was the retained form of it). MQTT.js 5 takes such a PUBLISH as a client not connected: it keeps the
// PUBACK for later and works through nothing after it, the CONNACK included, until its connect timeout closes the
// connection — and the next attempt meets the same while the devices publish. A consumer resuming its session on a
// cluster under load was kept out ~40 s over four attempts so (cluster-reload). Paho closes the connection at once
// ("received msg that was not CONNACK"). Such packets now wait for the CONNACK and follow it, in order
// (packet-writes.ts); a refused CONNECT's go with its connection.
import type { Aedes } from 'aedes'
import { connOf } from './accessors.js'
import { brokerInternals } from './internals.js'
import { markBeforeConnack } from './packet-writes.js'
import { fn, patch } from './patch.js'

export function connackFirst (broker: Aedes): void {
  patch(brokerInternals(broker), 'preConnect', fn(3), (preConnect) => (client, packet, cb) => {
    markBeforeConnack(connOf(client))
    preConnect(client, packet, cb)
  }, 'aedes 2.0.0-beta.1 writes a resumed session\'s live messages before its CONNACK', 'broker')
}
