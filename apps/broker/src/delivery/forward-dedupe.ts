// Replaces aedes 1.2's duplicate filter for live deliveries, which loses messages.
//
// aedes keeps, per client and broker id, the highest brokerCounter it delivered, and drops any packet with
// a lower one. Publishes do not finish in counter order (the store's writes complete out of order, several
// publishers run at once), so under concurrent QoS 1/2 load a live subscriber silently misses messages: a
// probe with 20 publishers and the level store lost 13% of 6,000 QoS 1 messages to it. Persistent
// sessions get them on their next reconnect; clean ones never do. Warden turns that filter off and drops
// only a true repeat: the same packet identity again, which is what overlapping subscriptions (or a bus
// in a cluster) produce.
import type { AedesPublishPacket, Client } from 'aedes'
import { replaceDuplicates } from '../aedes/accessors.js'

const RECENT = 8

/** the identities of a client's last few live deliveries, in a ring: no allocation per delivery */
class Recent {
  readonly ids: Array<string | undefined> = new Array(RECENT)
  readonly counters = new Float64Array(RECENT)
  next = 0
}
const recentByClient = new WeakMap<Client, Recent>()

/**
 * A `duplicates` table that remembers nothing: aedes's high-water check always passes. It holds nothing, so
 * every client shares the one table (a table each was a Proxy, its target and two closures per connection).
 */
const FORGETFUL: Record<string, number> = new Proxy(Object.create(null) as Record<string, number>, {
  get: () => undefined,
  set: () => true
})

export function disableHighWaterDedupe (client: Client): void {
  replaceDuplicates(client, FORGETFUL)
}

/**
 * True when this live delivery repeats one the client just had (same broker id and counter). Replays of a
 * stored session queue (they carry a writeCallback) and retained messages (no broker id) are never repeats.
 */
export function isRepeatDelivery (client: Client, packet: AedesPublishPacket): boolean {
  const p = packet as AedesPublishPacket & { brokerId?: string | null, brokerCounter?: number, writeCallback?: unknown }
  if (p.brokerId === undefined || p.brokerId === null || p.brokerId === '' || p.writeCallback !== undefined) return false
  const id = p.brokerId
  const counter = p.brokerCounter ?? 0
  let r = recentByClient.get(client)
  if (r === undefined) {
    r = new Recent()
    recentByClient.set(client, r)
  }
  for (let i = 0; i < RECENT; i++) {
    if (r.counters[i] === counter && r.ids[i] === id) return true
  }
  r.ids[r.next] = id
  r.counters[r.next] = counter
  r.next = (r.next + 1) % RECENT
  return false
}
