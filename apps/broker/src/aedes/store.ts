// The aedes persistence interface as aedes 1.2 calls it (aedes-persistence 11, -level 9, -redis 12 all
// implement it; none ships types). Warden reads and wraps these methods through this one view.
import type { Client, Subscription } from 'aedes'

/** a session as the store sees it: aedes passes the client, Warden's pseudo sessions pass `{ id }` */
export interface Session { readonly id: string, readonly clean?: unknown }
/**
 * whether a store is called for a client's connection (an aedes client: its socket is `conn`), not for a
 * session by its id alone (`{ id }`: Warden's own reads, aedes-persistence's abstract suite)
 */
export const isConnection = (client: Session): boolean => (client as { conn?: unknown }).conn !== undefined
/**
 * whether a store reads a session's queue for a connection still open (aedes's queue replay: what was sent on
 * it already is in flight), not for one closed (aedes ending its session: everything goes)
 */
export const isOpenConnection = (client: Session): boolean => isConnection(client) && (client as { closed?: unknown }).closed !== true
/** a message's queue identity as a string: the broker that numbered it and its number (the same for every copy) */
export const identityOf = (p: { readonly brokerId?: unknown, readonly brokerCounter?: unknown }): string => `${String(p.brokerId)}:${String(p.brokerCounter)}`
/** what a store's miss means to aedes and Warden (aedes-persistence's words, which unqueued-deliveries.ts knows) */
export const NO_SUCH_PACKET = 'no such packet'
/**
 * a store's answer to a lookup that misses (every new QoS 2 PUBLISH makes one: aedes asks whether it is a
 * retransmission) or to an update of what may not be sent: without a stack trace, whose capture cost more than
 * the lookup
 */
export const noSuchPacket = (): Error => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  const err = new Error(NO_SUCH_PACKET)
  Error.stackTraceLimit = limit
  return err
}
/** a packet as stored: aedes adds its queue identity (brokerId, brokerCounter) */
export interface StoredPacket {
  cmd?: string
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  messageId?: number
  brokerId?: string
  brokerCounter?: number
  [field: string]: unknown
}
export interface QueueSub {
  clientId: string
  topic?: string
  qos?: number
  /** the caller gives the delivery its packet id itself (a consumer group's copy): none is given as it is queued */
  numbered?: boolean
}

export interface AedesStore {
  incomingStorePacket (client: Session, packet: StoredPacket): Promise<void>
  incomingGetPacket (client: Session, packet: { messageId?: number, cmd?: string }): Promise<StoredPacket>
  incomingDelPacket (client: Session, packet: { messageId?: number }): Promise<void>
  /** called by aedes 1.2 on a clean-session CONNECT (feature-detected: absent in older stores) */
  cleanIncoming?: (client: Session) => Promise<void>
  outgoingEnqueue (sub: QueueSub, packet: object): Promise<unknown>
  outgoingEnqueueCombi (subs: QueueSub[], packet: StoredPacket): Promise<unknown>
  outgoingUpdate (client: Session, packet: StoredPacket): Promise<unknown>
  outgoingClearMessageId (client: Session, packet: { messageId?: number }): Promise<StoredPacket | undefined | null>
  outgoingStream (client: Session): AsyncIterable<StoredPacket>
  subscriptionsByClient (client: Session): Promise<Subscription[]>
  addSubscriptions (client: Session | Client, subs: readonly Subscription[]): Promise<unknown>
  removeSubscriptions (client: Session | Client, topics: string[]): Promise<unknown>
  cleanSubscriptions (client: Session | Client): Promise<unknown>
  streamWill (brokers: unknown): AsyncIterable<StoredPacket>
  putWill (client: Session, packet: object): Promise<unknown>
  delWill (client: { id: string, brokerId?: string }): Promise<unknown>
  storeRetained (packet: StoredPacket): Promise<void>
  createRetainedStreamCombi (patterns: string[]): AsyncIterable<StoredPacket>
}

/** the one place a store object is seen with aedes's persistence methods */
export const storeOf = (persistence: unknown): AedesStore => persistence as AedesStore
