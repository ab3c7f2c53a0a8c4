// The one way a client's publish is refused, whichever stage refuses it (rules, limits): audited, then
// answered by `deniedPublish`. In `drop` mode the message goes nowhere and its QoS flow completes — with
// 0x00 for an MQTT 3.1.1 client (it cannot be told otherwise), with the refusal's reason code for an MQTT 5
// client (PUBACK/PUBREC 0x87, 0x97, 0x99…: reason-codes.ts), which stays connected. In `disconnect` mode a
// 3.1.1 client's hook fails and aedes closes the connection; a v5 client gets DISCONNECT with the code.
// A will is always refused by failing the hook (it is not published).
import type { Client, PublishPacket } from 'aedes'
import type { Audit } from '../audit/audit.js'
import type { DenyReason } from '../policy/decision.js'
import { VOID_TOPIC } from '../policy/internal-topics.js'
import { remoteAddressOf } from '../aedes/client-internals.js'
import type { PublishGate } from '../delivery/publish-gate.js'
import { normalizeAddress } from '../net/address.js'
import type { PublishDone } from './pipeline.js'
import { answerRefusedPublish, disconnectWith, isMqtt5, markAnswered } from '../aedes/v5-answers.js'
import { disconnectReasonCode, publishReasonCode, reasonStringOf } from './reason-codes.js'

const EMPTY = Buffer.alloc(0)

/** long topics are cut in audit records: the record is about the refusal, not the topic */
export const clip = (s: string): string => s.length > 256 ? `${s.slice(0, 256)}…` : s

export interface PublishDenial {
  readonly reason: DenyReason
  /** a will is refused by failing the hook, whatever `deniedPublish` says */
  readonly will?: boolean
  /** how to answer, when not `deniedPublish` (publishRate.onExcess) */
  readonly mode?: 'drop' | 'disconnect'
  /** the registration filter that decided */
  readonly filter?: string | undefined
  readonly detail?: string | undefined
}

export interface Refusal {
  /** audits the refused publish and answers aedes for it */
  publish (client: Client, packet: PublishPacket, denial: PublishDenial, cb: PublishDone): void
  /**
   * The message goes nowhere, with nothing audited (a control request answered elsewhere; a dead client's
   * will, audited by the caller): the gate skips it; emptied as well, a QoS 2 packet awaiting PUBREL does not
   * hold the refused content.
   */
  discard (packet: PublishPacket): void
}

export interface RefusalDeps {
  audit: Audit
  deniedPublish: 'drop' | 'disconnect'
  gate: PublishGate
  /** the account a client publishes as (undefined: anonymous, or not authenticated) */
  usernameOf (client: Client): string | undefined
}

export function createRefusal ({ audit, deniedPublish, gate, usernameOf }: RefusalDeps): Refusal {
  const discard = (packet: PublishPacket): void => {
    gate.drop(packet)
    packet.topic = VOID_TOPIC
    packet.payload = EMPTY
    packet.retain = false
  }
  return {
    discard,
    publish (client, packet, { reason, will = false, mode = deniedPublish, filter, detail }, cb) {
      const topic = packet.topic
      audit.record({
        kind: will ? 'will' : 'publish',
        reason,
        username: usernameOf(client),
        clientId: client.id,
        address: normalizeAddress(remoteAddressOf(client)),
        topic: clip(topic),
        qos: packet.qos,
        ...(filter !== undefined ? { filter } : {}),
        ...(detail !== undefined ? { detail } : {})
      })
      const v5 = !will && isMqtt5(client)
      if (v5 && mode === 'disconnect') {
        // not through the hook: aedes would answer PUBACK 0x87 and keep the connection
        discard(packet)
        markAnswered(packet)
        disconnectWith(client, disconnectReasonCode(reason))
        cb(null)
        return
      }
      if (will || mode === 'disconnect') {
        cb(new Error(`publish to ${clip(topic)} denied: ${reason}`))
        return
      }
      // answered now; its PUBACK goes out after those of the client's earlier publishes (ack-order.ts)
      discard(packet)
      if (v5) {
        const code = publishReasonCode(reason)
        answerRefusedPublish(client, packet, code, reasonStringOf(code))
      }
      cb(null)
    }
  }
}
