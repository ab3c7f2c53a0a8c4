// A live delivery to a persistent session whose queue entry the store does not hold. aedes 2.0.0-beta.1's
// deliverQoS records the packet id it gives a QoS 1/2 PUBLISH (outgoingUpdate) before writing it, and takes the
// store's "no such packet" for an error: the connection is closed, with no DISCONNECT. That happens to honest
// clients:
// - a message matched against the subscriptions before a new one was stored (published before its SUBACK), whose
//   live copy reaches the client once its live subscription has started: it was never queued for the client
//   (the level store; MQTT does not require delivering it);
// - an entry removed on purpose before its live copy was written: acknowledged, expired, dropped by the queue
//   bound, taken back by a consumer group's hand-over;
// - an entry this connection has in flight already (the stores answer so): a session's queue read as it resumes
//   and a live copy of the same message, whichever came second (store/level-queues.ts, store/redis-queues.ts).
// Such a delivery is skipped instead: not written (re-recording it would bring a removed message back), and aedes
// is called back as if it had been written; the packet id aedes gave it is free again (held, it was never given
// again while the connection lasted). Other callers of outgoingUpdate (consumer groups, session purge) keep the
// store's answer: only aedes's own deliveries (they carry their writeCallback) are changed.
import { fn, patch } from './patch.js'
import { releasePacketId } from './packet-ids.js'
import { skipWrites } from './packet-writes.js'
import { NO_SUCH_PACKET, type AedesStore, type StoredPacket } from './store.js'

const UNQUEUED = Symbol('warden.unqueuedDelivery')

type Delivery = StoredPacket & { writeCallback?: unknown, [UNQUEUED]?: true }

const WHY = 'aedes 2.0.0-beta.1 closes a persistent subscriber whose live delivery has no queue entry in the store ' +
  '(a message published while it subscribed, before its SUBACK; an entry acknowledged, expired or dropped meanwhile)'

/** the stores' answer to an update of an entry they do not hold (Warden's level store, aedes-persistence's memory store) */
const isMiss = (err: unknown): boolean => err instanceof Error && err.message === NO_SUCH_PACKET

/** per store: the deliveries skipped so far (several brokers of one process have a store each) */
const skipped = new WeakMap<object, { n: number }>()
/** the deliveries `store`'s broker skipped so far, their queue entry gone (metric warden_deliveries_unqueued_total) */
export const skippedDeliveries = (store: unknown): number => skipped.get(store as object)?.n ?? 0

/** Inside the outermost wrapper of outgoingUpdate (retain-as-published.ts), which passes aedes's packet on as it is. */
export function skipUnqueuedDeliveries (store: AedesStore): void {
  skipWrites((packet) => (packet as Delivery)[UNQUEUED] === true)
  const count = { n: 0 }
  skipped.set(store, count)
  patch(store, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
    const p = packet as Delivery
    // aedes's deliverQoS sets writeCallback before it records the id; a PUBREL (no broker id) is not a delivery
    if (typeof p.writeCallback !== 'function' || p.cmd !== 'publish' || p.brokerId === undefined || p.brokerId === null) return update(client, packet)
    return update(client, packet).then(undefined, (err: unknown) => {
      if (!isMiss(err)) throw err
      p[UNQUEUED] = true
      releasePacketId(client, p.messageId)
      count.n++
    })
  }, WHY, 'persistence')
}
