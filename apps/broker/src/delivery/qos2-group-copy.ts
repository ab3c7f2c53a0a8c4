// A QoS 2 message whose consumer groups' copy was not kept (emit-failure.ts) fails its publish: no PUBREC, the
// connection closes, the device sends it again. By then the QoS 2 guard has marked it published (its ordinary
// subscribers may have it), so the guard would acknowledge the resend without publishing, and the groups would
// never get it. Publishing it again to everyone would give the ordinary subscribers a second copy. So the
// groups that failed are recorded beside the stored packet, as the owner is (qos2-owner.ts), before the
// connection closes, and the resend gives the message to those groups alone, then is acknowledged.
import { QOS2_RECORD_PREFIX, readRecord, writeRecord, type Identified, type Store } from './qos2-owner.js'

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

export async function writePendingGroups (store: Store, clientId: string, packet: Identified, pending: PendingGroups): Promise<void> {
  await writeRecord(store, GROUP_PREFIX + clientId, packet, { k: pending.keys, e: pending.messageExpiry })
}

/** undefined: none recorded for this message (a record of an earlier message under the same id never matches) */
export async function readPendingGroups (store: Store, clientId: string, packet: Identified): Promise<PendingGroups | undefined> {
  const v = await readRecord(store, GROUP_PREFIX + clientId, packet) as { k?: unknown, e?: unknown } | null | undefined
  if (v === null || v === undefined || !Array.isArray(v.k) || v.k.length === 0 || !v.k.every((k) => typeof k === 'string')) return undefined
  return { keys: v.k as string[], messageExpiry: typeof v.e === 'number' ? v.e : undefined }
}
