// Who published a stored incoming QoS 2 message, kept beside it in the store. The stores keep only a
// packet's own fields (aedes-packet's Packet), so the record is a packet of its own, under a pseudo client id
// that no real client can have (the packet guard refuses U+0000), with the message's id and its queue
// identity (broker id, counter): a record left from an earlier message under the same id never matches.
import type { RecordedOwner } from './recorded-owner.js'

/** the pseudo client ids of qos2-guard.ts's own records all start with this */
export const QOS2_RECORD_PREFIX = '\u0000warden-qos2'
export const OWNER_PREFIX = `${QOS2_RECORD_PREFIX}-owner:`

export interface Identified { messageId?: number | undefined, brokerId?: string | undefined, brokerCounter?: number | undefined }
export interface Store {
  store (client: { id: string }, packet: object): Promise<void>
  get (client: { id: string }, packet: { messageId?: number | undefined }): Promise<Identified & { payload?: unknown }>
}

/** writes `value` as JSON in a record of `packet` under the pseudo client id `id` */
export async function writeRecord (store: Store, id: string, packet: Identified, value: unknown): Promise<void> {
  await store.store({ id }, {
    cmd: 'publish', topic: '', payload: Buffer.from(JSON.stringify(value)), qos: 2, retain: false, dup: false,
    messageId: packet.messageId, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter
  })
}

/** the JSON value of `packet`'s record under the pseudo client id `id`; undefined: none, another message's, or unreadable */
export async function readRecord (store: Store, id: string, packet: Identified): Promise<unknown> {
  let r: Identified & { payload?: unknown }
  try {
    r = await store.get({ id }, packet)
  } catch {
    return undefined
  }
  if (r.brokerId !== packet.brokerId || r.brokerCounter !== packet.brokerCounter) return undefined
  try {
    return JSON.parse(Buffer.from(r.payload as Uint8Array).toString()) as unknown
  } catch {
    return undefined
  }
}

/** the record of `packet` (an incoming QoS 2 PUBLISH of `clientId`) as the store holds it */
export function ownerRecord (clientId: string, packet: Identified, owner: RecordedOwner): { clientId: string, packet: object } {
  return {
    clientId: OWNER_PREFIX + clientId,
    packet: {
      cmd: 'publish', topic: '', payload: Buffer.from(JSON.stringify(owner)), qos: 2, retain: false, dup: false,
      messageId: packet.messageId, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter
    }
  }
}

export async function writeOwner (store: Store, clientId: string, packet: Identified, owner: RecordedOwner): Promise<void> {
  const r = ownerRecord(clientId, packet, owner)
  await store.store({ id: r.clientId }, r.packet)
}

/** undefined: none recorded (stored by an earlier version, or the record is another message's) */
export async function readOwner (store: Store, clientId: string, packet: Identified): Promise<RecordedOwner | undefined> {
  const owner = await readRecord(store, OWNER_PREFIX + clientId, packet) as { u?: unknown } | null | undefined
  return typeof owner?.u === 'string' ? owner as RecordedOwner : undefined
}
