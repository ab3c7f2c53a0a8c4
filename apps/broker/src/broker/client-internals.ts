// The few aedes Client internals Warden reads, in one place, typed.
import type { Socket } from 'node:net'
import type { AedesPublishPacket, Client } from 'aedes'
import { matchTopic } from '../policy/topic.js'

interface ClientInternals {
  subscriptions: Record<string, { qos: number } | undefined>
  clean: boolean
}

export function remoteAddressOf (client: Client): string | undefined {
  return client.req?.socket.remoteAddress ?? (client.conn as Socket).remoteAddress
}

/**
 * The QoS to deliver at: aedes 1.2 downgrades only for exact-topic subscriptions, so a QoS 1 wildcard
 * subscriber would get QoS 2, and retained messages arrive at their stored QoS. MQTT-3.8.4-6 says
 * min(published, granted), the granted QoS being the highest of the client's matching subscriptions.
 */
export function cappedQos (client: Client, packet: AedesPublishPacket): number {
  const c = client as unknown as ClientInternals
  const subs = c.subscriptions
  const exact = subs[packet.topic]
  if (exact !== undefined && exact.qos >= packet.qos) return packet.qos
  let granted = -1
  for (const filter in subs) {
    const s = subs[filter]
    if (s !== undefined && s.qos > granted && matchTopic(filter, packet.topic)) {
      granted = s.qos
      if (granted >= packet.qos) return packet.qos
    }
  }
  if (granted < 0) return packet.qos // not from a live subscription (e.g. offline replay before restore)
  // a stored (offline-queue) QoS>0 message needs an acknowledgement to leave the queue
  if (granted === 0 && !c.clean && !packet.retain) return 1
  return granted
}
