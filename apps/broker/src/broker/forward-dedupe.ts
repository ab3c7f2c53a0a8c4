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

const RECENT = 8
const recentByClient = new WeakMap<Client, string[]>()

/** a `duplicates` table that remembers nothing: aedes's high-water check always passes */
const forgetful = (): Record<string, number> => new Proxy(Object.create(null) as Record<string, number>, {
  get: () => undefined,
  set: () => true
})

export function disableHighWaterDedupe (client: Client): void {
  ;(client as unknown as { duplicates: Record<string, number> }).duplicates = forgetful()
}

/**
 * True when this live delivery repeats one the client just had (same broker id and counter). Replays of a
 * stored session queue (they carry a writeCallback) and retained messages (no broker id) are never repeats.
 */
export function isRepeatDelivery (client: Client, packet: AedesPublishPacket): boolean {
  const p = packet as AedesPublishPacket & { brokerId?: string | null, brokerCounter?: number, writeCallback?: unknown }
  if (p.brokerId === undefined || p.brokerId === null || p.brokerId === '' || p.writeCallback !== undefined) return false
  const key = `${p.brokerId}:${String(p.brokerCounter)}`
  let recent = recentByClient.get(client)
  if (recent === undefined) {
    recent = []
    recentByClient.set(client, recent)
  }
  if (recent.includes(key)) return true
  if (recent.length >= RECENT) recent.shift()
  recent.push(key)
  return false
}
