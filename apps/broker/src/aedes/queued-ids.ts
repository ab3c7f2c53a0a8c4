// A QoS 2 message for a connected persistent subscriber is given its packet id when it is queued, not when aedes
// sends it. A QoS 2 PUBLISH must be on disk under its packet id before it is sent (sent again under another id
// after a crash, it is a second delivery); aedes gives the id in deliverQoS, after the queue entry is written, so
// the level store wrote the id in a write of its own, awaited before the PUBLISH, then removed it with the message:
// two of a QoS 2 message's seven writes, and one more batch to wait for. Given at queue time, the id goes into the
// queue entry itself, in the batch the publisher's PUBREC already waits for (store/level-queues.ts), and aedes
// sends the message under it: deliverQoS is handed the packet with the id set, which aedes keeps (QoSPacket takes
// an id the packet has).
//
// Only for a client that will be sent the message live on this connection: registered here, CONNACK sent, not
// closing, persistent, and with the deliverQoS wrapper that takes the id (retain-as-published.ts installs it on
// every persistent session once its CONNECT is admitted, before any subscription takes its deliverQoS). A message
// given an id that is then not delivered on this connection (its connection closed first) is read back from the
// queue with it by the next one; a delivery under another id (a wrapper that made a new packet without it) makes
// the store write that id as before.
import type { Aedes, Client } from 'aedes'
import { clientsOf, connackSent, nextPacketId } from './accessors.js'
import { releasePacketId } from './packet-ids.js'
import { identityOf, type StoredPacket } from './store.js'

/** ids waiting for their delivery, per connection at most: past it a message is queued without one */
const MAX_WAITING = 4096

/** an id given to `client` for a message it is about to be delivered; `drop` takes it back before delivery */
export interface QueuedId {
  readonly id: number
  readonly client: object
  drop (): void
}

/** gives `clientId` a packet id for `packet` if it is to be delivered live here at QoS 2, else undefined */
export type IdAtQueue = (clientId: string, packet: StoredPacket) => QueuedId | undefined

/** per connection: the ids given to messages not yet handed to its deliverQoS, by message identity */
const waiting = new WeakMap<object, Map<string, number>>()
/** connections whose deliverQoS hands these ids on (retain-as-published.ts) */
const takers = new WeakSet<object>()

/** `client`'s deliverQoS passes on the ids given at queue time (withQueuedId) */
export function takeQueuedIds (client: object): void {
  takers.add(client)
}

/** the packet deliverQoS hands on to aedes: with the id given when it was queued for `client`, if any */
export function withQueuedId<P extends { brokerId?: unknown, brokerCounter?: unknown, messageId?: unknown }> (client: object, packet: P): P {
  const m = waiting.get(client)
  if (m === undefined || m.size === 0) return packet
  const key = identityOf(packet)
  const id = m.get(key)
  if (id === undefined) return packet
  m.delete(key)
  // numbered by its sender already (a consumer group's copy): that id stands, the store writes it apart, and the
  // one given at queue time is free again
  if (packet.messageId !== undefined && packet.messageId !== null && packet.messageId !== 0) {
    releasePacketId(client, id)
    return packet
  }
  return { ...packet, messageId: id }
}

export function queuedIdsOf (broker: Aedes): IdAtQueue {
  const clients = clientsOf(broker)
  return (clientId, packet) => {
    const client = clients[clientId] as (Client & { closed?: boolean }) | undefined
    if (client === undefined || !takers.has(client) || client.clean || client.closed === true || !connackSent(client)) return undefined
    // a RETAIN 1 delivery is recorded apart (retain-as-published.ts)
    if (packet.retain === true) return undefined
    let m = waiting.get(client)
    if (m === undefined) {
      m = new Map()
      waiting.set(client, m)
    } else if (m.size >= MAX_WAITING) {
      return undefined
    }
    const key = identityOf(packet)
    if (m.has(key)) return undefined
    const id = nextPacketId(client)
    m.set(key, id)
    const own = m
    return {
      id,
      client,
      drop: () => {
        if (own.get(key) !== id) return
        own.delete(key)
        releasePacketId(client, id)
      }
    }
  }
}
