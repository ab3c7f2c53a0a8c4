// The last stage of authorizePublish: an accepted QoS 1 message from a connected client is published (stored)
// here, before aedes writes its PUBACK, so that a crash in between cannot lose an acknowledged message
// (delivery/publish-gate.ts skips aedes's own publish of it afterwards).
//
// A message the store could not take (Redis away past a retry, `waitForReplicas` not met, a consumer group's
// copy not kept) is not acknowledged, and the connection is closed: the device sends the message again once it
// is back. For an MQTT 5 client aedes would instead answer any error of authorizePublish with PUBACK 0x87 "Not
// authorized", with the error's own text as the Reason String: the device would give the message up as refused,
// and read an internal error (a Redis address, a replica count). It is told DISCONNECT 0x89 (Server busy)
// instead, as a 3.1.1 client is closed.
import { isWillOf } from '../aedes/accessors.js'
import { holdWrites } from '../aedes/client-internals.js'
import { disconnectWith, isMqtt5, markAnswered } from '../aedes/v5-answers.js'
import type { PublishGate } from '../delivery/publish-gate.js'
import { isStoredWill } from '../delivery/will-owner.js'
import type { HookStage } from './pipeline.js'
import { V5 } from './reason-codes.js'

export function storeBeforeAck (gate: PublishGate): HookStage {
  return {
    name: 'store-before-ack',
    authorizePublish (client, packet, cb, next) {
      // a will (of this client, or stored by a dead broker) has no PUBACK to wait for
      if (packet.qos !== 1 || client === null || isWillOf(client, packet) || isStoredWill(packet)) { next(client, packet, cb); return }
      gate.publishBeforeAck(packet, client, (err) => {
        if (err !== undefined && err !== null && isMqtt5(client)) {
          markAnswered(packet)
          void disconnectWith(client, V5.SERVER_BUSY)
          cb(null)
          return
        }
        holdWrites(client) // PUBACKs share writes
        cb(err ?? null)
      })
    }
  }
}
