// The last stage of authorizePublish: an accepted QoS 1 message from a connected client is published (stored)
// here, before aedes writes its PUBACK, so that a crash in between cannot lose an acknowledged message
// (delivery/publish-gate.ts skips aedes's own publish of it afterwards).
import { isWillOf } from '../aedes/accessors.js'
import { holdWrites } from '../aedes/client-internals.js'
import type { PublishGate } from '../delivery/publish-gate.js'
import { isStoredWill } from '../delivery/will-owner.js'
import type { HookStage } from './pipeline.js'

export function storeBeforeAck (gate: PublishGate): HookStage {
  return {
    name: 'store-before-ack',
    authorizePublish (client, packet, cb, next) {
      // a will (of this client, or stored by a dead broker) has no PUBACK to wait for
      if (packet.qos !== 1 || client === null || isWillOf(client, packet) || isStoredWill(packet)) { next(client, packet, cb); return }
      gate.publishBeforeAck(packet, client, (err) => { holdWrites(client); cb(err ?? null) }) // PUBACKs share writes
    }
  }
}
