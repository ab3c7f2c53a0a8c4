// A QoS 2 message whose consumer groups' copy was not kept (emit-failure.ts) fails its publish: no PUBREC, the
// connection closes, the device sends it again. By then the QoS 2 guard has marked it published (its ordinary
// subscribers may have it), so the guard would acknowledge the resend without publishing, and the groups would
// never get it. Publishing it again to everyone would give the ordinary subscribers a second copy. So the
// groups that failed are recorded beside the stored packet, as the owner is (qos2-owner.ts), before the
// connection closes, and the resend gives the message to those groups alone, then is acknowledged.
import { QOS2_RECORD_PREFIX, type Identified } from './qos2-owner.js'

export const GROUP_PREFIX = `${QOS2_RECORD_PREFIX}-groups:`

/** a message as a consumer group's copy is made of it (groups/types.ts Copy, less the group and identity) */
export interface GroupMessage {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  brokerCounter: number
  properties?: Readonly<Record<string, unknown>> | undefined
  messageExpiry?: number | undefined
}
/** gives the message to these groups; rejects with GroupCopyFailed naming those that failed again */
export type ResendToGroups = (m: GroupMessage, keys: readonly string[]) => Promise<void>

export interface PendingGroups { keys: string[], messageExpiry?: number | undefined }

interface Store {
  store (client: { id: string }, packet: object): Promise<void>
  get (client: { id: string }, packet: { messageId?: number | undefined }): Promise<Identified & { payload?: unknown }>
}

export async function writePendingGroups (store: Store, clientId: string, packet: Identified, pending: PendingGroups): Promise<void> {
  await store.store({ id: GROUP_PREFIX + clientId }, {
    cmd: 'publish', topic: '', payload: Buffer.from(JSON.stringify({ k: pending.keys, e: pending.messageExpiry })), qos: 2, retain: false, dup: false,
    messageId: packet.messageId, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter
  })
}

/** undefined: none recorded for this message (a record of an earlier message under the same id never matches) */
export async function readPendingGroups (store: Store, clientId: string, packet: Identified): Promise<PendingGroups | undefined> {
  let r: Identified & { payload?: unknown }
  try {
    r = await store.get({ id: GROUP_PREFIX + clientId }, packet)
  } catch {
    return undefined
  }
  if (r.brokerId !== packet.brokerId || r.brokerCounter !== packet.brokerCounter) return undefined
  try {
    const v = JSON.parse(Buffer.from(r.payload as Uint8Array).toString()) as { k?: unknown, e?: unknown }
    if (!Array.isArray(v.k) || v.k.length === 0 || !v.k.every((k) => typeof k === 'string')) return undefined
    return { keys: v.k as string[], messageExpiry: typeof v.e === 'number' ? v.e : undefined }
  } catch {
    return undefined
  }
}
