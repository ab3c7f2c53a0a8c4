// Warden's Redis store for aedes's message path: the queues of persistent sessions (outgoing QoS 1/2
// messages); subscriptions, retained messages, wills and incoming QoS 2 packets stay with
// aedes-persistence-redis 12, which this extends on the same connection.
//
// It keeps aedes-persistence-redis's keys and encoding (msgpack of the packet, MQTT 5 properties and
// messageExpiry included), so that it reads what that store wrote, and a worker still running it (a rolling
// upgrade) reads what this one writes:
//   packet:<brokerId>:<counter>               the message, once for all its subscribers
//   packet:<brokerId>:<counter>:offlineCount  how many queues still hold it
//   outgoing:<client>                         a client's queue: a list of packet keys, or for a QoS 2
//                                             message once sent to the client, of the key below
//   outgoing:<client>:<brokerId>:<counter>    a QoS 2 message as last sent to that client: the PUBLISH with
//                                             the client's packet id, then the PUBREL (aedes-persistence-redis
//                                             keeps only PUBRELs there, and reads a PUBLISH there as it reads
//                                             them)
//   outgoing:<client>:ids                     Warden's only key of its own: a hash of the packet ids the
//                                             client's QoS 1 messages were sent under, by <brokerId>:<counter>;
//                                             and, by <brokerId>:<counter>:qos, the QoS a message was queued at
//                                             for this client when below the QoS it was published at
//                                             (queued-qos.ts: the record holds the published form, one for all
//                                             subscribers; a worker not yet upgraded does not read it and sends
//                                             the published form, as aedes-persistence-redis always did)
// A packet id is never written on the message's record, shared by all its subscribers (aedes-persistence-redis
// does, and so did this store): it held the id of whichever subscriber was sent the message last, and a
// subscriber sent it again after a crash, or on another worker, got another's id, which breaks MQTT-4.4.0-1
// (a QoS 2 receiver tells messages apart by packet id: a second message, or one dropped as a duplicate of
// another it still held under that id; test/integration/store-redis-sent-ids.test.ts). A QoS 1 message keeps
// its entry under the record's key, where a worker not yet upgraded acknowledges it (it would leave one under
// the client's own key in the queue, and count the message off twice); such a worker does not read the hash
// and sends a QoS 1 message again under a new id, which QoS 1 allows. An id on the record (written by
// aedes-persistence-redis or an earlier Warden) is read as before when the hash has none.
// What it changes is the number of round trips and commands per message (profiled: 7 commands and 6 round
// trips one after the other for a QoS 1 message to one persistent subscriber, and the broker idle most of
// the time waiting on them; then ioredis's own cost per command):
// - the writes of one event-loop turn go to Redis as one script call (redis-batch.ts); what must be in Redis
//   before aedes goes on is awaited, as before: a queued message before its publisher's PUBACK, a QoS 2
//   message's packet id and its PUBREL before they are sent;
// - a QoS 1 message's packet id is written a moment later (HOLD_MS in redis-batch.ts; not at all if the message
//   is acknowledged first), and not awaited (lost in a crash, the message is sent again under another id, which
//   QoS 1 allows); every id held is written before a binding is released or a session's queue read here;
// - an acknowledgement never reads Redis: what was sent under each packet id is indexed in memory, per
//   connection (an aedes client object), so another worker's sends of the same session are never taken for
//   this one's; the removal is not awaited (lost in a crash, the message is sent once more), and it counts a
//   message off only from a queue that still held it;
// - a client left with no subscription has its queue deleted by aedes-persistence-redis (a clean start, an
//   expired session, the last UNSUBSCRIBE), which counted none of its messages off: those whose last queue it
//   was stayed in Redis for ever; they are counted off first (removeSubscriptions);
// - a QoS 2 message for a subscriber connected to this worker is given its packet id as it is queued
//   (aedes/queued-ids.ts, as on level), and queued under the client's own key with it: what the write awaited
//   before its PUBLISH made of the queue entry, made by the call that queues it (awaited before the publisher's
//   PUBREC anyway), so that its PUBLISH waits for no write of its own: a script call and a round trip fewer per
//   message, and two commands (LINSERT, LREM and SET in place of one SET). The form is the one a QoS 2 message
//   sent had before, which a worker not yet upgraded reads as such (and aedes-persistence-redis reads as a
//   PUBREL's key: the PUBLISH under its id); its connection closed before sending it, the message is sent to the
//   next one under that id, with DUP 1 (not knowing whether it was sent, as for one sent before a crash);
// - the QoS 2 guard's mark of a message (qos2-guard.ts: an incoming packet of a pseudo client, in
//   aedes-persistence-redis's hash) is set in the script call that queues the message (MarkRecords), not by a
//   command after it: a crash between the two had the message, already in its subscribers' queues, published
//   again when its publisher sent it again (a second delivery).
import { Readable } from 'node:stream'
import type { Redis } from 'ioredis'
import msgpack from 'msgpack-lite'
import Packet from 'aedes-packet'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import type { Client } from 'aedes'
import { holdPacketId } from '../aedes/packet-ids.js'
import { isCleanSession } from '../aedes/accessors.js'
import { identityOf, isConnection, noSuchPacket, type QueueSub, type Session, type StoredPacket } from '../aedes/store.js'
import { createRedisBatch, type HashField, type OwnEntry, type RedisBatch } from './redis-batch.js'
import { isCappedCopy } from './queued-qos.js'
import { encodePacket } from './packet-codec.js'
import { matchRetained } from './redis-retained.js'
import type { IncomingRecord, QueueRecords } from './level-queues.js'
import type { IdAtQueue } from '../aedes/queued-ids.js'

/** records (the QoS 2 guard's mark) written in the script call that queues a QoS 2 message */
export type MarkRecords = Pick<QueueRecords, 'attach' | 'flush'> & {
  /**
   * keeps an incoming QoS 2 packet of a connection whose session started clean and ends with it in this process
   * only: nothing of it outlives the connection (its table was cleared at CONNECT, clean-incoming.ts), so nothing
   * else may read it, and a lookup of its ids needs no read of Redis
   */
  keepIncoming (client: Session, packet: StoredPacket): void
  /** removes a packet keepIncoming kept; whether there was one */
  dropKept (client: Session, messageId: number): boolean
}

/**
 * whether a session's incoming QoS 2 packets are kept in this process (MarkRecords.keepIncoming): a connection whose
 * session started clean and ends with it (3.1.1 Clean Session 1; MQTT 5 Clean Start 1, Session Expiry 0)
 */
export const keptInProcess = (client: Session): boolean => isConnection(client) && isCleanSession(client as Client)

/** an incoming packet as aedes-persistence-redis stores it: the packet's own fields and its message id */
function incomingForm (packet: StoredPacket): StoredPacket {
  const stored = new Packet(packet) as StoredPacket
  stored.messageId = packet.messageId
  return stored
}

const enc = encodeURIComponent
const queueKey = (clientId: string): string => `outgoing:${enc(clientId)}`
const PACKET_PREFIX = 'packet:'
const packetKey = (brokerId: unknown, counter: unknown): string => `${PACKET_PREFIX}${String(brokerId)}:${String(counter)}`
const sentKey = (clientId: string, brokerId: unknown, counter: unknown): string => `${queueKey(clientId)}:${String(brokerId)}:${String(counter)}`
/** a client's hash of the packet ids its QoS 1 messages were sent under, by <brokerId>:<counter> (redis-batch.ts) */
const idsKey = (clientId: string): string => `${queueKey(clientId)}:ids`
/** aedes-persistence-redis's hash of a client's subscriptions, by filter */
const clientSubKey = (clientId: string): string => `client:${enc(clientId)}`
/** aedes-persistence-redis's hash of a client's incoming QoS 2 packets */
const incomingKey = (clientId: string): string => `incoming:${enc(clientId)}`

/** a message sent on one connection under a packet id: its queue entry and the packet as last sent */
interface Sent {
  readonly entry: string
  readonly packet: StoredPacket
  readonly brokerId: unknown
  readonly brokerCounter: unknown
  /** given its id as it was queued (its entry, the client's own key, holds it so): its delivery still to come */
  readonly waiting?: boolean
}

const noop = (): void => {}
const EMPTY = Buffer.alloc(0)

/** a queue's entries under the client's own key (QoS 2 messages sent, PUBRELs), and its hash of ids */
const OWN_ENTRIES = `
local own = {}
for _, e in ipairs(redis.call('LRANGE', ARGV[1], 0, -1)) do
  if string.sub(e, 1, 7) ~= 'packet:' then own[#own + 1] = e end
end
return { own, redis.call('HGETALL', ARGV[1] .. ':ids') }
`

/** what aedes passes to clear a packet id: `{ messageId }` for an acknowledgement, a queued packet otherwise */
interface Acked { messageId?: number, brokerId?: unknown, brokerCounter?: unknown, cmd?: string }

export interface RedisQueueOptions {
  conn: Redis
  /** the most messages a resumed session is sent from its queue at once (aedes-persistence-redis's default) */
  maxSessionDelivery?: number
}

/**
 * An aedes persistence (aedes-persistence 11's async interface): aedes-persistence-redis 12 with its queue
 * methods replaced. Wrap it in aedes-persistence's CallBackPersistence, as aedes-persistence-redis does.
 */
export class RedisQueueStore extends AsyncRedisPersistence implements MarkRecords {
  readonly #db: Redis
  readonly #batch: RedisBatch
  readonly #maxSessionDelivery: number
  /** per connection (aedes client, or a pseudo session object): packet id → what was sent under it */
  readonly #sent = new WeakMap<object, Map<number, Sent>>()
  /**
   * per aedes connection: for each read of its queue on its way, the keys of the messages acknowledged on it meanwhile.
   * Sent (live, as the session resumed) and acknowledged between the read's LRANGE and its look at what is in flight,
   * a message was listed and no longer in flight: sent again, DUP 1 (at QoS 2 after its PUBCOMP, a second message).
   */
  readonly #reads = new WeakMap<object, Set<Set<string>>>()
  /** reads of a connection's queue on their way, in all: a PUBACK looks for its connection's only while there are some */
  #readsOn = 0
  /** per aedes connection: the messages it has in flight (<brokerId>:<counter>), by the packet id they went under */
  readonly #inFlight = new WeakMap<object, Map<string, number>>()
  /** records attached to a QoS 2 message's queue write, by its queue identity */
  readonly #withQueue = new Map<string, HashField[]>()
  /** incoming QoS 2 packets kept in this process (keepIncoming), by client id, then packet id */
  readonly #kept = new Map<string, Map<number, StoredPacket>>()
  /** gives a live subscriber's QoS 2 message its packet id as it is queued (aedes/queued-ids.ts) */
  #idAtQueue: IdAtQueue | undefined

  constructor ({ conn, maxSessionDelivery = 1000 }: RedisQueueOptions) {
    super({ conn, maxSessionDelivery })
    this.#db = conn
    this.#batch = createRedisBatch(conn)
    this.#maxSessionDelivery = maxSessionDelivery
  }

  /** aedes-persistence-redis's read took glob characters of a filter for glob syntax (redis-retained.ts) */
  createRetainedStreamCombi (patterns: string[]): AsyncGenerator<StoredPacket> {
    return matchRetained(this.#db, patterns)
  }

  createRetainedStream (pattern: string): AsyncGenerator<StoredPacket> {
    return matchRetained(this.#db, [pattern])
  }

  /** from now on, QoS 2 messages for subscribers `assign` gives an id are queued with it, under the client's own key */
  giveIdsAtQueue (assign: IdAtQueue): void { this.#idAtQueue = assign }

  /** true for the one caller, of every process on this Redis, that claims `key` first (the claim lasts `ms`) */
  async claimOnce (key: string, ms: number): Promise<boolean> {
    return await this.#db.set(`warden:claim:${key}`, '1', 'PX', ms, 'NX') === 'OK'
  }

  #sentOf (client: object): Map<number, Sent> {
    let m = this.#sent.get(client)
    if (m === undefined) {
      m = new Map()
      this.#sent.set(client, m)
    }
    return m
  }

  async outgoingEnqueue (sub: QueueSub, packet: StoredPacket): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet)
  }

  async outgoingEnqueueCombi (subs: QueueSub[] | null | undefined, packet: StoredPacket): Promise<void> {
    // a QoS 2 message queued at QoS 1 for some (queued-qos.ts) is queued in two calls, the QoS 2 one last: the
    // attached records go with that one
    const fields = packet.qos === 2 && this.#withQueue.size > 0 ? this.#take(packet) : undefined
    if (subs === null || subs === undefined || subs.length === 0) {
      if (fields !== undefined) await this.#batch.hset(fields)
      return
    }
    const { brokerId, brokerCounter } = packet
    // in Redis before the publisher is acknowledged
    // a copy capped below the published QoS keeps its QoS in each of its queues' hash of ids: the record is the
    // message's, as published
    const cap = isCappedCopy(packet) ? packet.qos : undefined
    const assign = packet.qos === 2 ? this.#idAtQueue : undefined
    let queues: string[]
    const owned: OwnEntry[] = []
    const given: Array<() => void> = []
    if (assign === undefined) {
      queues = subs.map((s) => queueKey(s.clientId))
    } else {
      queues = []
      const ownHere = new Set<string>()
      for (const sub of subs) {
        // a client that matched twice (overlapping subscriptions) holds the message once, under its own key
        if (ownHere.has(sub.clientId)) continue
        const g = sub.qos === 2 && sub.numbered !== true ? this.#giveId(sub.clientId, packet, assign) : undefined
        if (g === undefined) {
          queues.push(queueKey(sub.clientId))
          continue
        }
        ownHere.add(sub.clientId)
        owned.push(g.entry)
        given.push(g.undo)
      }
    }
    try {
      await this.#batch.enqueue(packetKey(brokerId, brokerCounter), queues, encodePacket(new Packet(packet)), cap, fields, owned)
    } catch (err) {
      // not queued (the publish fails): no delivery comes for the ids given
      for (const undo of given) undo()
      throw err
    }
  }

  /**
   * the packet id `assign` gives `clientId`'s connection for `packet`, and the queue entry holding the message
   * under it (the client's own key, as `S` writes it once sent): so queued, nothing is written when it is sent,
   * where the write of its id was a script call awaited before the PUBLISH
   */
  #giveId (clientId: string, packet: StoredPacket, assign: IdAtQueue): { entry: OwnEntry, undo: () => void } | undefined {
    const given = assign(clientId, packet)
    if (given === undefined) return undefined
    const sent = this.#sentOf(given.client)
    // an id this connection holds for another message (one sent before its ids caught up)
    if (sent.has(given.id)) {
      given.drop()
      // still in flight for that message (an id an earlier store wrote on its record, not read at the resume):
      // held again, or aedes would give it next
      holdPacketId(given.client, given.id)
      return undefined
    }
    const { brokerId, brokerCounter } = packet
    const form = new Packet(packet) as StoredPacket
    form.messageId = given.id
    const own = sentKey(clientId, brokerId, brokerCounter)
    // in flight on this connection from now on: a read of its queue meanwhile leaves it to its delivery
    const s: Sent = { entry: own, packet: form, brokerId, brokerCounter, waiting: true }
    sent.set(given.id, s)
    return {
      entry: { queue: queueKey(clientId), own, value: encodePacket(form) },
      undo: () => {
        given.drop()
        if (sent.get(given.id) === s) sent.delete(given.id)
      }
    }
  }

  attach (packet: StoredPacket, records: readonly IncomingRecord[]): void {
    const fields = records.map((r) => ({ key: incomingKey(r.clientId), field: String(r.packet.messageId ?? 0), value: encodePacket(r.packet) }))
    const id = identityOf(packet)
    const before = this.#withQueue.get(id)
    if (before === undefined) this.#withQueue.set(id, fields)
    else before.push(...fields)
  }

  /** `queued`: the message is in its queues (at QoS 2 in none): what is still attached is written now; else dropped */
  async flush (packet: StoredPacket, { queued }: { queued: boolean }): Promise<void> {
    const fields = this.#take(packet)
    if (fields !== undefined && queued) await this.#batch.hset(fields)
  }

  #take (packet: StoredPacket): HashField[] | undefined {
    const id = identityOf(packet)
    const fields = this.#withQueue.get(id)
    if (fields !== undefined) this.#withQueue.delete(id)
    return fields
  }

  async outgoingUpdate (client: Session, packet: StoredPacket): Promise<void> {
    const messageId = packet.messageId ?? 0
    const sent = this.#sentOf(client)
    if (packet.brokerId === undefined || packet.brokerId === null) {
      // a PUBREL (aedes gives only its id): the message sent under that id on this connection
      const before = sent.get(messageId)
      if (before === undefined) throw new Error('unknown key')
      packet.brokerId = before.brokerId as string
      packet.brokerCounter = before.brokerCounter as number
    }
    const { brokerId, brokerCounter } = packet
    const identity = identityOf(packet)
    if (packet.cmd !== 'pubrel' && isConnection(client)) this.#sending(client, identity, messageId)
    const pkt = packetKey(brokerId, brokerCounter)
    const own = sentKey(client.id, brokerId, brokerCounter)
    if (packet.cmd !== 'pubrel' && packet.qos !== 2) {
      // a QoS 1 PUBLISH: its id in the client's hash, so that a session resumed on any worker is sent it under
      // the same id; not awaited, and held back a moment: one acknowledged meanwhile is never written (redis-batch.ts;
      // lost in a crash, it goes again under a new id, a duplicate QoS 1 allows)
      sent.set(messageId, { entry: pkt, packet, brokerId, brokerCounter })
      this.#batch.sentId(queueKey(client.id), identity, messageId)
      return
    }
    const had = sent.get(messageId)
    sent.set(messageId, { entry: own, packet, brokerId, brokerCounter })
    if (packet.cmd !== 'pubrel' && had?.waiting === true && had.entry === own) {
      // given this id as it was queued: in Redis under it since then (its queue entry, awaited before its
      // publisher's PUBREC and before this delivery). The QoS 1 ids this queue's client was sent before it and
      // that are held back go to Redis before it is sent, as they go with `S`
      const held = this.#batch.writeHeld(queueKey(client.id))
      if (held !== undefined) await held
      return
    }
    if (packet.cmd !== 'pubrel') {
      // a QoS 2 PUBLISH: with its id under the client's own key, in the message's place in the queue, so that a
      // session resumed on any worker is sent it under the same id; in Redis before it is sent (sent again under
      // a new id after a crash, it would be a second message); only while this queue holds the message: a late
      // update (a message acknowledged meanwhile) would leave it behind for ever
      await this.#batch.sent(queueKey(client.id), pkt, own, encodePacket(packet))
      return
    }
    // a PUBREL goes to the end of the queue under the client's own key, in Redis before it is sent
    await this.#batch.pubrel(queueKey(client.id), pkt, own, encodePacket(packet))
  }

  /**
   * a PUBLISH of the message `identity` about to go to the connection `client` under `messageId`: not while the
   * connection has it in flight under another id (aedes/unqueued-deliveries.ts skips it). A session's queue read as
   * it resumes and the live copy of a message queued before the read whose publish reached the bus after it each
   * sent it, whichever came second (at QoS 2 a second message); the read leaves out what was sent live before it
   */
  #sending (client: object, identity: string, messageId: number): void {
    let m = this.#inFlight.get(client)
    if (m === undefined) this.#inFlight.set(client, m = new Map())
    const id = m.get(identity)
    if (id !== undefined && id !== messageId) {
      const s = this.#sent.get(client)?.get(id)
      if (s !== undefined && identityOf(s) === identity) throw noSuchPacket()
    }
    m.set(identity, messageId)
  }

  async outgoingClearMessageId (client: Session, packet: Acked): Promise<StoredPacket | undefined> {
    const messageId = packet.messageId ?? 0
    const sent = this.#sent.get(client)
    let s = sent?.get(messageId)
    if (s !== undefined) {
      sent?.delete(messageId)
      const inFlight = this.#inFlight.get(client)
      const identity = identityOf(s)
      if (inFlight?.get(identity) === messageId) inFlight.delete(identity)
      if (this.#readsOn > 0) for (const acked of this.#reads.get(client) ?? []) acked.add(s.entry).add(packetKey(s.brokerId, s.brokerCounter))
    } else if (packet.brokerId !== undefined && packet.brokerId !== null) {
      // a packet read from the queue and dropped unsent (aedes empties a session's queue so): its entry
      // is the one it was read from (a PUBLISH read from the client's own key: the script finds it there)
      const entry = packet.cmd === 'pubrel'
        ? sentKey(client.id, packet.brokerId, packet.brokerCounter)
        : packetKey(packet.brokerId, packet.brokerCounter)
      s = { entry, packet: packet as StoredPacket, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter }
    } else {
      return undefined
    }
    // not awaited: a removal lost in a crash sends the message once more (QoS 1) or its PUBREL (QoS 2)
    this.#ack(client.id, s)
    s.packet.messageId = messageId
    return s.packet
  }

  #ack (clientId: string, s: Sent): void {
    void this.#batch.ack(queueKey(clientId), s.entry, packetKey(s.brokerId, s.brokerCounter))
  }

  keepIncoming (client: Session, packet: StoredPacket): void {
    const stored = incomingForm(packet)
    let m = this.#kept.get(client.id)
    if (m === undefined) this.#kept.set(client.id, m = new Map())
    m.set(packet.messageId ?? 0, stored)
  }

  dropKept (client: Session, messageId: number): boolean {
    const m = this.#kept.get(client.id)
    if (m?.delete(messageId) !== true) return false
    if (m.size === 0) this.#kept.delete(client.id)
    return true
  }

  // A client's incoming QoS 2 packets (and the QoS 2 guard's records, kept as those of pseudo clients) in
  // aedes-persistence-redis's hash, written and read in the script call of the turn: each was an ioredis command of
  // its own, several per QoS 2 message. Still awaited by whoever waits for them (PUBREC, PUBCOMP); a read comes
  // after the writes made before it, as it came after them on the connection before.
  override async incomingStorePacket (client: Session, packet: StoredPacket): Promise<void> {
    const stored = incomingForm(packet)
    const field = String(packet.messageId)
    await this.#batch.hset([{ key: incomingKey(client.id), field, value: encodePacket(stored) }])
  }

  override async incomingGetPacket (client: Session, packet: { messageId?: number, cmd?: string }): Promise<StoredPacket> {
    // aedes asks on a PUBREL only whether to remove the packet (lib/handlers/pubrel.js): PUBCOMP goes either way,
    // after the removal if the packet was found. A removal of a packet not there removes nothing; answered found,
    // a PUBREL costs that removal (awaited before PUBCOMP, as the removal of one found), where the read was a round
    // trip before it for every PUBREL
    if (packet.cmd === 'pubrel') return { cmd: 'pubrel', topic: '', payload: EMPTY, qos: 2, messageId: packet.messageId }
    const kept = this.#kept.get(client.id)?.get(packet.messageId ?? 0)
    if (kept !== undefined) return { ...kept }
    // a connection that started clean and ends clean keeps all its packets here: a miss is a miss
    if (keptInProcess(client)) throw noSuchPacket()
    const value = await this.#batch.hget(incomingKey(client.id), String(packet.messageId))
    // a miss is every new QoS 2 PUBLISH's answer (aedes asks whether it is a retransmission): no stack trace
    if (value === null) throw noSuchPacket()
    return msgpack.decode(value) as StoredPacket
  }

  override async incomingDelPacket (client: Session, packet: { messageId?: number }): Promise<void> {
    await this.#batch.hdel(incomingKey(client.id), String(packet.messageId))
  }

  override async cleanIncoming (client: Session): Promise<void> {
    this.#kept.delete(client.id)
    await this.#batch.del(incomingKey(client.id))
  }

  /** whether a client has incoming QoS 2 packets, once what was written of them so far is in Redis */
  async hasIncoming (clientId: string): Promise<boolean> {
    if (this.#kept.has(clientId)) return true
    await this.#batch.written()
    return await this.#db.exists(incomingKey(clientId)) > 0
  }

  /** the packet ids of a client's incoming QoS 2 packets, once what was written of them so far is in Redis */
  async incomingIds (clientId: string): Promise<number[]> {
    const kept = [...this.#kept.get(clientId)?.keys() ?? []]
    await this.#batch.written()
    return [...kept, ...(await this.#db.hkeys(incomingKey(clientId))).map(Number)]
  }

  override async removeSubscriptions (client: Session, topics: string[]): Promise<void> {
    // aedes-persistence-redis deletes the queue of a client it leaves with no subscription (a clean start, an
    // expired session, the last UNSUBSCRIBE) and counts none of its messages off: a message whose last queue
    // it was stayed in Redis for ever. Counted off first, in a script call run before that deletion.
    const left = await this.#db.hkeys(clientSubKey(client.id))
    const removed = new Set(topics)
    if (left.every((t) => removed.has(t))) await this.#batch.drop(queueKey(client.id))
    await super.removeSubscriptions(client, topics)
  }

  outgoingStream (client: Session): Readable {
    const db = this.#db
    const sentOn = this.#sent
    const store = this
    const batch = this.#batch
    const list = queueKey(client.id)
    const max = this.#maxSessionDelivery
    return Readable.from((async function * () {
      // acknowledged on this connection from now until the read is done: not read (see #reads)
      const acked = new Set<string>()
      let mine: Set<Set<string>> | undefined
      if (isConnection(client)) {
        mine = store.#reads.get(client)
        if (mine === undefined) store.#reads.set(client, mine = new Set())
        mine.add(acked)
        store.#readsOn++
      }
      try {
        yield * readQueue()
      } finally {
        if (mine?.delete(acked) === true) store.#readsOn--
      }

      async function * readQueue (): AsyncGenerator<StoredPacket> {
        // what was written or removed so far is read back as it is now
        await batch.settled()
        const keys = await db.lrange(list, 0, max)
        if (keys.length === 0) {
          // ids left by acknowledgements a worker not yet upgraded took (it removes no id)
          db.del(idsKey(client.id)).catch(noop)
          return
        }
        // sent on this connection already (live, while the queue was being read): in flight, not to send again — a
        // message queued before the read and delivered live once the client was registered went twice (at QoS 2,
        // once its first copy had completed, a second message under the same id)
        // A QoS 2 message is listed under the message's key until its send's write, under the client's own key,
        // reaches Redis: one sent while this read was on its way is in flight under either
        const inFlight = (): Set<string> => {
          const out = new Set<string>()
          if (isConnection(client)) {
            for (const s of sentOn.get(client)?.values() ?? []) out.add(s.entry).add(packetKey(s.brokerId, s.brokerCounter))
          }
          return out
        }
        // what is in flight now is not read at all: a connected session's queue read again (a bus outage's replay,
        // delivery/bus-gap.ts) would read every message it holds unacknowledged, payloads and all, to drop them
        const sentBefore = inFlight()
        const wanted = keys.filter((k) => !sentBefore.has(k))
        // the packets, and the client's QoS 1 ids, in one round trip (the commands of one tick go out together)
        const [values, ids] = await Promise.all([
          Promise.all(wanted.map(async (k) => await db.getBuffer(k))),
          db.hgetall(idsKey(client.id))
        ])
        const valueOf = new Map(wanted.map((k, i) => [k, values[i]]))
        const sentAfter = inFlight()
        // a message listed twice is read once (at QoS 2 twice would be two messages): a queue write resent by
        // ioredis after Redis, which had run it, restarted lists it twice; once sent, one listing is under the
        // client's own key (outgoing:<client>:<brokerId>:<counter>), which is the one read
        const identityOf = (key: string): string => key.startsWith(PACKET_PREFIX) ? key.slice(PACKET_PREFIX.length) : key.slice(list.length + 1)
        const sentHere = new Set(keys.filter((k) => !k.startsWith(PACKET_PREFIX)).map(identityOf))
        const read = new Set<string>()
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i] as string
          const identity = identityOf(key)
          if (sentBefore.has(key) || sentAfter.has(key) || acked.has(key) || read.has(identity)) continue
          if (key.startsWith(PACKET_PREFIX) && sentHere.has(identity)) continue
          read.add(identity)
          const value = valueOf.get(key)
          const packet = value !== null && value !== undefined ? msgpack.decode(value) as StoredPacket | null : null
          // an entry whose packet is gone (expired, or removed with its last queue): dropped, as aedes-persistence-redis does
          if (packet === null || packet === undefined) {
            db.lrem(list, 0, key).catch(noop)
            continue
          }
          // a message under its own key (packet:…): the id this client was sent it under, if any; an id on the
          // record itself was written there by aedes-persistence-redis or an earlier Warden, and is kept
          if (key.startsWith(PACKET_PREFIX)) {
            const id = ids[identity]
            if (id !== undefined) packet.messageId = Number(id)
            // the QoS this queue's copy was capped at, below the published one (queued-qos.ts)
            const cap = ids[`${identity}:qos`]
            if (cap !== undefined && Number(cap) < (packet.qos ?? 0)) packet.qos = Number(cap) as 0 | 1 | 2
          }
          yield packet
        }
      }
    })())
  }

  /**
   * The packet ids a session's queue holds, once what was written so far is in Redis: its QoS 1 messages' (the
   * hash of ids) and the QoS 2 ones' under the client's own key (a PUBLISH sent, or its PUBREL), read whole from
   * the queue however long it is (one script call: only those keys come back, then their values). An id that
   * aedes-persistence-redis wrote on a message's record is not read (it is seen once that message is sent again).
   */
  async outgoingIds (clientId: string): Promise<number[]> {
    await this.#batch.settled()
    const [own, hash] = await this.#db.eval(OWN_ENTRIES, 0, queueKey(clientId)) as [string[], string[]]
    const ids: number[] = []
    for (let i = 0; i + 1 < hash.length; i += 2) if (!(hash[i] as string).endsWith(':qos')) ids.push(Number(hash[i + 1]))
    const values = await Promise.all(own.map(async (k) => await this.#db.getBuffer(k)))
    for (const v of values) {
      const id = v !== null ? (msgpack.decode(v) as StoredPacket | null)?.messageId : undefined
      if (typeof id === 'number') ids.push(id)
    }
    return ids.filter((id) => Number.isInteger(id) && id > 0)
  }

  /** script calls made and the operations in them, since start (redis-batch.ts) */
  get commits (): { readonly batches: number, readonly ops: number } { return this.#batch.stats }

  /** resolves once every write made so far has run (or failed) */
  async settled (): Promise<void> {
    await this.#batch.settled()
  }

  override async destroy (): Promise<void> {
    // the writes not awaited reach Redis before the connection closes
    await Promise.race([this.#batch.settled(), new Promise((resolve) => setTimeout(resolve, 2000).unref())])
    await super.destroy()
  }
}
