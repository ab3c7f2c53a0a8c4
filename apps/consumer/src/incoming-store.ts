// MQTT.js incoming store that hands a QoS 2 message over on PUBLISH rather than on PUBREL.
// MQTT.js delivers QoS 2 when PUBREL arrives and keeps the message in memory until then, so a consumer
// stopped between its PUBREC and the broker's PUBREL loses it: the broker only resends PUBREL, never the
// message. Delivering on PUBLISH and ignoring repeats of an unreleased packet id is the other method
// MQTT 3.1.1 §4.3.3 allows, and it needs no state that must outlive the process.
import { Store, type IPublishPacket, type IStore } from 'mqtt'

type StoredPacket = Parameters<IStore['put']>[0]

export function createDeliverOnPublishStore (deliver: (packet: IPublishPacket) => void): IStore {
  const store = new Store()
  // ids delivered but not yet released: a resent PUBLISH with one of them is the same message
  const unreleased = new Set<number>()

  const isPublish = (packet: StoredPacket): packet is IPublishPacket => packet.cmd === 'publish'

  return {
    put (packet, cb) {
      const id = packet.messageId
      if (isPublish(packet) && id !== undefined && !unreleased.has(id)) {
        unreleased.add(id)
        deliver(packet)
      }
      store.put(packet, cb)
      return this
    },
    del (packet, cb) {
      if (packet.messageId !== undefined) unreleased.delete(packet.messageId)
      store.del(packet, cb)
      return this
    },
    get (packet, cb) {
      store.get(packet, cb)
      return this
    },
    createStream: () => store.createStream(),
    close: (cb) => store.close(cb)
  }
}
