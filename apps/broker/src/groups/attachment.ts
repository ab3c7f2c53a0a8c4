// A member's connection on this process: the groups it joined through it, and the QoS 1/2 copies it was
// given and has not acknowledged yet (PUBACK for QoS 1, PUBREC for QoS 2: from then on the member holds
// the message, and handing it to another member would deliver it twice).
import type { Client } from 'aedes'
import { nextPacketId, outlivesConnection, parserOf, returnPacketId } from '../aedes/accessors.js'
import type { Copy, QoS } from './types.js'

export interface Inflight {
  readonly copy: Copy
  readonly qos: QoS
  readonly messageId: number
  /** in the member's own stored queue (persistent members), so it must be taken out before going elsewhere */
  stored: boolean
  /** handed over once already: a redelivery */
  readonly redelivery: boolean
  /** handed over in a batch its sender waits on (cluster-link.ts): true once this process's claim of it stands */
  readonly gate?: Promise<boolean>
  /** a clean member's copy, kept in Redis until acknowledged (held-copies.ts) */
  held?: boolean
  /** kept in Redis as also in the member's session (aedes stores its deliveries while it is connected) */
  heldStored?: boolean
}

export class Attachment {
  /** group key → granted QoS */
  readonly groups = new Map<string, QoS>()
  /** group key → MQTT 5 Subscription Identifier of the `$share/` subscription, when it has one */
  readonly subscriptionIds = new Map<string, number>()
  /** by packet id */
  readonly inflight = new Map<number, Inflight>()
  /** the member's store steps, in order: each copy is queued in its session before it is written */
  chain: Promise<void> = Promise.resolve()
  /** writes of copies handed over in batches (dispatcher.ts take), in order, each once its batch is decided */
  writes: Promise<unknown> = Promise.resolve()
  closed = false
  /** its copies kept in Redis now (held-copies.ts): bounded by limits.maxQueuedMessages */
  held = 0
  readonly persistent: boolean
  /** called with each copy the member acknowledges */
  onAcknowledged: ((f: Inflight) => void) | undefined

  constructor (readonly client: Client, readonly clientId: string) {
    this.persistent = outlivesConnection(client)
    // watches the parsed packets; aedes handles them as usual
    parserOf(client).on('packet', (packet) => {
      if (packet.cmd !== 'puback' && packet.cmd !== 'pubrec') return
      const f = this.inflight.get(packet.messageId ?? -1)
      if (f === undefined || (packet.cmd === 'puback') !== (f.qos === 1)) return
      this.inflight.delete(f.messageId)
      this.onAcknowledged?.(f)
    })
  }

  /** the next packet id, from the client's own counter (as aedes numbers its deliveries) */
  nextMessageId (): number {
    return nextPacketId(this.client)
  }

  /** a packet id nextMessageId gave to a copy that is not written to the member after all */
  returnMessageId (id: number): void {
    returnPacketId(this.client, id)
  }
}
