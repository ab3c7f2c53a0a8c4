// MQTT.js incoming store that hands a QoS 2 message over on PUBLISH rather than on PUBREL.
// MQTT.js delivers QoS 2 when PUBREL arrives and keeps the message in memory until then, so a consumer
// stopped between its PUBREC and the broker's PUBREL loses it: the broker only resends PUBREL. Delivering
// on PUBLISH and not again for a resent PUBLISH whose id is still unreleased is the other method
// MQTT 3.1.1 §4.3.3 allows; the unreleased ids are small enough to carry across a restart.
import { Store, type IPublishPacket, type IStore } from 'mqtt'

type StoredPacket = Parameters<IStore['put']>[0]

export interface Qos2Inbox {
  readonly store: IStore
  /** Packet ids delivered whose PUBREL has not arrived yet. */
  unreleased (): number[]
  /** The broker started a new session: old ids mean nothing any more. */
  forget (): void
}

export function createQos2Inbox (deliver: (packet: IPublishPacket) => void, carried: Iterable<number> = []): Qos2Inbox {
  const inner = new Store()
  const unreleased = new Set<number>(carried)
  const isPublish = (packet: StoredPacket): packet is IPublishPacket => packet.cmd === 'publish'

  const store: IStore = {
    put (packet, cb) {
      const id = packet.messageId
      if (isPublish(packet) && id !== undefined && !unreleased.has(id)) {
        unreleased.add(id)
        deliver(packet)
      }
      inner.put(packet, cb)
      return this
    },
    get (packet, cb) {
      // only PUBREL looks packets up: the id is released even when the packet was stored by an earlier process
      if (packet.messageId !== undefined) unreleased.delete(packet.messageId)
      inner.get(packet, cb)
      return this
    },
    del (packet, cb) {
      if (packet.messageId !== undefined) unreleased.delete(packet.messageId)
      inner.del(packet, cb)
      return this
    },
    createStream: () => inner.createStream(),
    close: (cb) => inner.close(cb)
  }

  return {
    store,
    unreleased: () => [...unreleased],
    forget: () => unreleased.clear()
  }
}
