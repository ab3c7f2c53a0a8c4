// The patches installed on each aedes client as it is created (listeners.ts → limits.guard), in order,
// each with the aedes behaviour it corrects. The broker's and the store's are in broker/patches.ts.
// Each is set up once per broker, its listener or wrapper shared by every connection: a connection carries
// state of Warden's only where it needs some (the packet guard's framing), never a closure. The patches
// that act on what MQTT 5 clients send share one listener (aedes/v5-packets.ts), gone at a 3.1.1 CONNECT;
// those that only a kind of session needs are installed once its CONNECT is admitted (limits.stage), on
// the clients that need them.
import type { Client } from 'aedes'
import { forgetDelivery } from '../aedes/accessors.js'
import { boundWrites, guardParser, refuseClientProperties, type ConnectionGuardOptions } from './connection-guard.js'
import { disableHighWaterDedupe } from '../delivery/forward-dedupe.js'
import { watchOutbound } from '../aedes/outbound-window.js'
import { recordRetainedDeliveries } from '../aedes/retain-as-published.js'
import { disguiseShareFilters } from '../aedes/shared-subscribe.js'
import { disguisePrototypeFilters } from '../aedes/prototype-filters.js'
import { answerBadSessionExpiry } from '../aedes/disconnect-expiry.js'
import { freeRefusedIds } from '../aedes/session-ids.js'
import { watchV5Packets, type V5Watch } from '../aedes/v5-packets.js'

type Install = (client: Client) => void

type ConnectionPatch = {
  readonly name: string
  readonly reason: string
} & (
  /** once per broker: what then runs on each client */
  | { readonly setup: (opts: ConnectionGuardOptions) => Install }
  /**
   * once per broker: what then runs on each client whose CONNECT the hooks admitted, aedes's session known
   * (`clean`, the version) and none of its subscriptions, live or restored, made yet
   */
  | { readonly admitted: (opts: ConnectionGuardOptions) => Install }
  /** once per broker: what it does with an MQTT 5 client's packets */
  | { readonly v5: (opts: ConnectionGuardOptions) => V5Watch }
)

const CONNECTION_PATCHES: readonly ConnectionPatch[] = [
  {
    name: 'forward-dedupe',
    reason: 'aedes drops a delivery numbered below the last one it delivered: out-of-order publishes are lost',
    setup: () => disableHighWaterDedupe
  },
  {
    name: 'packet-guard',
    reason: 'mqtt-packet buffers any announced length and accepts strings MQTT-1.5.3-1/-2 forbid, and QoS 0 with DUP (MQTT-3.3.1-2)',
    setup: guardParser
  },
  // after the guard, which audits its refusals as mqtt-packet's own
  {
    name: 'client-properties',
    reason: 'mqtt-packet parses any MQTT 5 property in any packet and aedes 2.0.0-beta.1 forwards it: a PUBLISH property that is ' +
      'not one (closes mosquitto_sub), a publisher\'s Subscription Identifier (MQTT-3.3.4-6), a will\'s Topic Alias (limits/client-properties.ts); ' +
      'and a QoS 1/2 PUBLISH with packet id 0 (MQTT-2.3.1-1)',
    setup: refuseClientProperties
  },
  {
    name: 'retained-deliveries',
    reason: 'aedes records no packet id for a QoS 1/2 PUBLISH with RETAIN 1 to a persistent session (Retain As Published, ' +
      'retained at subscribe time): the subscriber\'s PUBREC closes its connection (aedes/retain-as-published.ts)',
    admitted: () => recordRetainedDeliveries
  },
  {
    name: 'outbound-window',
    reason: 'aedes 2.0.0-beta.1 sends an MQTT 5 client more unacknowledged QoS 1/2 messages than its Receive Maximum, and no topic aliases (#829)',
    v5: (opts) => ({
      connect: watchOutbound({
        maxTopicAliases: opts.outboundTopicAliases,
        maxOutgoingBytes: opts.maxOutgoingBytes,
        onSlowConsumer: opts.onSlowConsumer,
        onExpired: forgetDelivery
      })
    })
  },
  {
    name: 'prototype-filters',
    reason: 'aedes 2.0.0-beta.1 dedupes a SUBSCRIBE\'s filters in a plain object: \'__proto__\' with another filter ' +
      'disconnects a 3.1.1 client and ends the process on an MQTT 5 one (aedes/prototype-filters.ts)',
    setup: disguisePrototypeFilters
  },
  {
    name: 'v5-shared-subscribe',
    reason: 'aedes 2.0.0-beta.1 refuses $share/ of MQTT 5 clients with SUBACK 0x9E before authorizeSubscribe (aedes/shared-subscribe.ts)',
    v5: () => ({ packet: disguiseShareFilters })
  },
  {
    name: 'disconnect-session-expiry',
    reason: 'aedes 2.0.0-beta.1 closes without DISCONNECT 0x82 when a DISCONNECT raises a Session Expiry Interval of 0 (MQTT-3.14.2-2)',
    v5: () => ({ packet: answerBadSessionExpiry })
  },
  {
    name: 'refused-packet-ids',
    reason: 'aedes 2.0.0-beta.1 frees no packet id of a clean session\'s QoS 2 message its MQTT 5 client refuses with PUBREC ≥ 0x80 ' +
      '(aedes/packet-ids.ts holds each given id until it is freed)',
    v5: () => ({ packet: freeRefusedIds })
  },
  {
    name: 'outgoing-bound',
    reason: 'aedes holds a bus delivery slot while a socket that does not read drains (issue #88/#1060)',
    setup: boundWrites
  }
]

export interface ConnectionPatcher {
  /** on each client as it is created */
  readonly created: Install
  /** on each client once its CONNECT is admitted */
  readonly admitted: Install
}

/** Once per broker: the installers of every connection patch. */
export function connectionPatcher (opts: ConnectionGuardOptions): ConnectionPatcher {
  const v5 = watchV5Packets(CONNECTION_PATCHES.flatMap((p) => 'v5' in p ? [p.v5(opts)] : []))
  // the MQTT 5 listener goes where the first of its patches is listed
  const first = CONNECTION_PATCHES.findIndex((p) => 'v5' in p)
  const created = CONNECTION_PATCHES.flatMap((p, i) => 'setup' in p ? [p.setup(opts)] : i === first ? [v5] : [])
  const admitted = CONNECTION_PATCHES.flatMap((p) => 'admitted' in p ? [p.admitted(opts)] : [])
  return {
    created: (client) => { for (const install of created) install(client) },
    admitted: (client) => { for (const install of admitted) install(client) }
  }
}
