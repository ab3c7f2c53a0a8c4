// The patches installed on each aedes client as it is created (listeners.ts → limits.guard), in order,
// each with the aedes behaviour it corrects. The broker's and the store's are in broker/patches.ts.
import type { Client } from 'aedes'
import { forgetDelivery } from '../aedes/accessors.js'
import { boundWrites, guardParser, type ConnectionGuardOptions } from './connection-guard.js'
import { disableHighWaterDedupe } from '../delivery/forward-dedupe.js'
import { watchOutbound } from '../aedes/outbound-window.js'
import { disguiseShareFilters } from '../aedes/shared-subscribe.js'
import { answerBadSessionExpiry } from '../aedes/disconnect-expiry.js'

interface ConnectionPatch {
  readonly name: string
  readonly reason: string
  install (client: Client, opts: ConnectionGuardOptions): void
}

const CONNECTION_PATCHES: readonly ConnectionPatch[] = [
  {
    name: 'forward-dedupe',
    reason: 'aedes drops a delivery numbered below the last one it delivered: out-of-order publishes are lost',
    install: disableHighWaterDedupe
  },
  {
    name: 'packet-guard',
    reason: 'mqtt-packet buffers any announced length and accepts strings MQTT-1.5.3-1/-2 forbid, and QoS 0 with DUP (MQTT-3.3.1-2)',
    install: guardParser
  },
  {
    name: 'outbound-window',
    reason: 'aedes 2.0.0-beta.1 sends an MQTT 5 client more unacknowledged QoS 1/2 messages than its Receive Maximum, and no topic aliases (#829)',
    install: (client, opts) => watchOutbound(client, {
      maxTopicAliases: opts.outboundTopicAliases,
      maxOutgoingBytes: opts.maxOutgoingBytes,
      onSlowConsumer: opts.onSlowConsumer,
      onExpired: forgetDelivery
    })
  },
  {
    name: 'v5-shared-subscribe',
    reason: 'aedes 2.0.0-beta.1 refuses $share/ of MQTT 5 clients with SUBACK 0x9E before authorizeSubscribe (aedes/shared-subscribe.ts)',
    install: disguiseShareFilters
  },
  {
    name: 'disconnect-session-expiry',
    reason: 'aedes 2.0.0-beta.1 closes without DISCONNECT 0x82 when a DISCONNECT raises a Session Expiry Interval of 0 (MQTT-3.14.2-2)',
    install: answerBadSessionExpiry
  },
  {
    name: 'outgoing-bound',
    reason: 'aedes holds a bus delivery slot while a socket that does not read drains (issue #88/#1060)',
    install: boundWrites
  }
]

export function patchConnection (client: Client, opts: ConnectionGuardOptions): void {
  for (const p of CONNECTION_PATCHES) p.install(client, opts)
}
