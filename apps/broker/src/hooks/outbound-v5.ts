// The last stage of authorizeForward: what MQTT 5 says about a message on its way to one subscriber, which
// aedes 2.0.0-beta.1 leaves out of live delivery. A message whose Message Expiry Interval has passed is not
// sent, and one still alive is sent with the time it has left (MQTT-3.3.2-5, -3.3.2-6; aedes does it only for
// queued and retained messages). Every Subscription Identifier of the client's matching subscriptions is sent,
// not only the one aedes delivered through (MQTT-3.3.4-3). A packet larger than the client's Maximum Packet
// Size is not sent to it, and the broker carries on as if it had been (MQTT-3.1.2-24, -3.1.2-25): a
// persistent session's queue does not keep it either.
import type { Aedes, AedesPublishPacket, Client } from 'aedes'
import mqttPacket from 'mqtt-packet'
import { forgetDelivery, subscriptionFilters, subscriptionsOf } from '../aedes/accessors.js'
import { isMqtt5 } from '../aedes/v5-answers.js'
import { matchTopic } from '../policy/topic.js'
import type { HookStage } from './pipeline.js'

export interface OutboundStats {
  /** messages not sent because their Message Expiry Interval had passed */
  expired: number
  /** messages not sent because they exceed the subscriber's Maximum Packet Size */
  tooLarge: number
}

export interface OutboundDeps {
  /** a message too large for a subscriber: counted and audited, the connection stays */
  tooLarge (client: Client, packet: AedesPublishPacket, bytes: number, max: number): void
}

export interface OutboundStage extends HookStage {
  readonly stats: OutboundStats
  /** learns which clients have a subscription with an identifier (only their messages are looked at for more) */
  watch (broker: Aedes): void
}

const EMPTY = Buffer.alloc(0)
const V5 = { protocolVersion: 5 }

const varIntLength = (n: number): number => n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4

/** the bytes of this PUBLISH on the wire to an MQTT 5 client (fixed header included) */
export function publishWireSize (packet: AedesPublishPacket): number {
  const payload = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length
  let remaining: number
  if (packet.properties === undefined || Object.keys(packet.properties).length === 0) {
    remaining = 2 + Buffer.byteLength(packet.topic) + (packet.qos > 0 ? 2 : 0) + 1
  } else {
    // properties: encoded once without the payload, whose length is then added
    const head = mqttPacket.generate({ ...packet, cmd: 'publish', messageId: 1, payload: EMPTY, dup: false } as mqttPacket.IPublishPacket, V5)
    remaining = 0
    let mul = 1
    let i = 1
    let b: number
    do { b = head[i++] ?? 0; remaining += (b & 127) * mul; mul *= 128 } while ((b & 128) !== 0 && i < 5)
  }
  return 1 + varIntLength(remaining + payload) + remaining + payload
}

/**
 * The Subscription Identifiers of the client's subscriptions that match the topic, or undefined when none has
 * one. A retained message sent because of one new subscription carries only that one's identifier (aedes sets
 * it, and marks such a copy with no brokerId).
 */
function allSubscriptionIds (client: Client, packet: AedesPublishPacket): number[] | undefined {
  let ids: number[] | undefined
  const subs = subscriptionsOf(client)
  // per delivery: for…in and its enum cache (aedes/accessors.ts subscriptionFilters)
  for (const filter in subs) {
    const id = subs[filter]?.si
    // a consumer group's `$share/` filter delivers through the group, not through this subscription
    if (id === undefined || (filter.charCodeAt(0) === 36 && filter.startsWith('$share/'))) continue
    if (matchTopic(filter, packet.topic)) (ids ??= []).push(id)
  }
  return ids?.sort((a, b) => a - b)
}

export function createOutboundStage ({ tooLarge }: OutboundDeps): OutboundStage {
  const stats: OutboundStats = { expired: 0, tooLarge: 0 }
  /** clients that subscribed with a Subscription Identifier (live, or restored with their session) */
  const withIds = new WeakSet<Client>()
  const hasIds = (client: Client): boolean => {
    const subs = subscriptionsOf(client)
    for (const filter of subscriptionFilters(client)) if (subs[filter]?.si !== undefined) return true
    return false
  }
  return {
    name: 'outbound',
    stats,
    watch (broker) {
      broker.on('subscribe', (subs, client) => {
        if (subs.some((s) => (s as { subscriptionIdentifier?: number }).subscriptionIdentifier !== undefined)) withIds.add(client)
      })
      broker.on('clientReady', (client) => { if (hasIds(client)) withIds.add(client) })
    },
    authorizeForward (client, packet, next) {
      let out = packet
      const expiry = packet.messageExpiry
      const v5 = isMqtt5(client)
      if (expiry !== undefined) {
        const left = expiry - Date.now()
        if (left <= 0) { stats.expired++; return null }
        // a 3.1.1 subscriber has no properties: it only must not get an expired message
        if (v5) out = { ...out, properties: { ...out.properties, messageExpiryInterval: Math.ceil(left / 1000) } }
      }
      if (!v5) return next(client, out)
      // the subscriptions are walked only for a client that has given an identifier, for a message that
      // reached it through a subscription (a retained one sent on subscribe has no brokerId)
      const ids = withIds.has(client) && (out.brokerId as string | null) ? allSubscriptionIds(client, out) : undefined
      if (ids !== undefined && ids.length > 1) {
        out = { ...out, properties: { ...out.properties, subscriptionIdentifier: ids } }
      }
      const max = client.maximumPacketSize
      if (max !== undefined && max > 0) {
        const bytes = publishWireSize(out)
        if (bytes > max) {
          stats.tooLarge++
          tooLarge(client, out, bytes, max)
          // as if sent: a persistent session's queue does not keep it for later
          forgetDelivery(client, out)
          return null
        }
      }
      return next(client, out)
    }
  }
}
