// A message queued for an offline session carries the QoS its subscription was granted.
//
// MQTT-3.8.4-6: a message is sent at min(published QoS, the subscription's granted QoS). aedes queues the
// published packet for every offline subscriber as it was published, and replays a resumed session's queue
// before its subscriptions are back in memory, where Warden's delivery cap (cappedQos) reads them: a QoS 2
// message queued for a QoS 1 subscription came back at QoS 2. So the queued copy is capped when it is stored.
// Installed first among the store's patches (broker/patches.ts): the QoS 2 guard and the queue bounds, which
// wrap this method later, still see the message once, as published.
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore, QueueSub, StoredPacket } from '../aedes/store.js'

/** the copies queued below their message's published QoS, for a store that keeps one record per message for all
 * its queues (redis-queues.ts): it keeps the QoS of such a copy per queue */
const capped = new WeakSet<object>()
/** whether `packet` is a message's copy queued below the QoS it was published at */
export const isCappedCopy = (packet: StoredPacket): boolean => capped.has(packet)
/** the copy of `packet` queued at `qos`, below the QoS it was published at */
export function cappedCopy (packet: StoredPacket, qos: 1 | 2): StoredPacket {
  const copy = { ...packet, qos }
  capped.add(copy)
  return copy
}

export function queueAtGrantedQos (store: AedesStore): void {
  // a message queued at its QoS for everyone (every QoS 1 one) goes straight through: no promise more
  patch(store, 'outgoingEnqueueCombi', fn(3), (enqueue) => (subs, packet) => {
    const qos = packet.qos ?? 0
    if (subs === undefined || subs === null || qos < 2 || subs.every((s) => (s.qos ?? qos) >= qos)) return enqueue(subs, packet)
    return enqueueByQos(enqueue, subs, packet, qos)
  }, 'aedes queues a message for an offline session at its published QoS, not the QoS its subscription was granted', 'persistence')
}

/** the copies at each granted QoS, the published QoS last */
async function enqueueByQos (enqueue: AedesStore['outgoingEnqueueCombi'], subs: QueueSub[], packet: StoredPacket, qos: number): Promise<unknown> {
  const byQos = new Map<number, QueueSub[]>()
  for (const s of subs) {
    // a QoS 0 subscription's copy stays QoS 1, as delivery does (cappedQos): it leaves the queue when acknowledged
    const q = Math.max(1, Math.min(s.qos ?? qos, qos))
    const list = byQos.get(q)
    if (list === undefined) byQos.set(q, [s]); else list.push(s)
  }
  let result: unknown
  // the group at the published QoS last: the QoS 2 guard's mark goes to disk with that group's entries
  // (level-queues.ts), so it must be the last of the message's queue writes
  for (const [q, list] of [...byQos].sort(([a], [b]) => (a === qos ? 1 : 0) - (b === qos ? 1 : 0))) {
    result = await enqueue(list, q === qos ? packet : cappedCopy(packet, q as 1 | 2))
  }
  return result
}
