// Warden's LevelDB store for aedes: the queues of persistent sessions (outgoing QoS 1/2 messages) and the
// incoming QoS 2 packets awaiting PUBREL, held in an in-memory index and written by group commit
// (group-commit.ts); subscriptions, retained messages and wills stay with aedes-persistence-level, which
// this delegates them to, on the same database.
//
// It keeps aedes-persistence-level's key layout and encoding (msgpack-lite of the packet, MQTT 5
// properties and messageExpiry included) so that it reads what that store wrote and the other way round:
//   outgoing:<client>:<brokerId>:<counter>   a queued message (as queued: this store does not rewrite it)
//   outgoing-id:<client>:<packet id>         the packet as sent under that id (a QoS 2 PUBLISH, then its PUBREL)
//   incoming:<client>:<packet id>            an incoming QoS 2 packet awaiting PUBREL
// What it changes is when and how often it writes:
// - no read on the message path: a PUBACK finds its packet in the index, an incoming QoS 2 packet is
//   known new without asking LevelDB;
// - a write resolves once its batch is on disk; the writes that must be on disk before aedes goes on are
//   awaited (a queued message, before the publisher's PUBACK; a QoS 2 packet id, before it is sent; an
//   incoming QoS 2 packet and its removal, before PUBREC/PUBCOMP), the others are not: the removal of an
//   acknowledged message (lost in a crash, the message is sent once more, which QoS 1 allows);
// - records the QoS 2 guard keeps beside an incoming message go to disk in the batch that queues it
//   (QueueRecords: stage, attach): one awaited write before PUBREC, atomic with the queue entries; those of a
//   publisher whose session ends with its connection (3.1.1 clean session, MQTT 5 Session Expiry 0) stay in the
//   index only (StagedRecord.volatile): after a crash that session is gone, and nothing may read them (a
//   message under the same packet id in the next session is new), so its QoS 2 message costs two writes fewer
//   and its PUBCOMP waits for none;
// - the packet id a QoS 1 message is sent under is kept in memory only (outgoingStream adds it back to
//   what it reads): after a crash the message is sent again under a new id, a duplicate QoS 1 allows. So a
//   QoS 1 message costs one put when queued and one delete when acknowledged, both in shared batches;
// - a QoS 2 message for a subscriber connected here is given its packet id as it is queued
//   (aedes/queued-ids.ts), and the queue entry is written with it: the entry is then what the `outgoing-id:`
//   key would be (aedes-persistence-level writes the queue entry with its id too), and its PUBREL replaces it.
//   Such a message costs a put when queued, one for its PUBREL and a delete on PUBCOMP, where one sent under
//   an id of its own cost five writes (the queue entry, its id, the PUBREL, two deletes) and a batch more to
//   wait for. Read back, a queue entry with a packet id is sent under it; that id is known from the start (setup),
//   as an `outgoing-id:` key's is, so that no new message is given it.
import { Readable } from 'node:stream'
import type { Level } from 'level'
import msgpack from 'msgpack-lite'
import Packet from 'aedes-packet'
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js'
import type { Subscription } from 'aedes'
import { identityOf, isOpenConnection, noSuchPacket, type QueueSub, type Session, type StoredPacket } from '../aedes/store.js'
import { createGroupCommit, type GroupCommit } from './group-commit.js'
import { createLevelWriter } from './level-write.js'
import { encodePacket } from './packet-codec.js'
import type { IdAtQueue } from '../aedes/queued-ids.js'

const OUTGOING = 'outgoing:'
const OUTGOING_ID = 'outgoing-id:'
const INCOMING = 'incoming:'
const BUFFER = { valueEncoding: 'buffer' } as const

// aedes-persistence-level's keys: ids padded to 16 digits so that they sort; a client id URI-encoded, so
// that the ':' after it ends it
const pad = (n: number | undefined): string => String(n).padStart(16, '0')
const enc = encodeURIComponent
const outgoingPrefix = (clientId: string): string => `${OUTGOING}${enc(clientId)}:`
const outgoingKey = (clientId: string, brokerId: unknown, counter: unknown): string =>
  `${outgoingPrefix(clientId)}${String(brokerId)}:${pad(counter as number)}`
const outgoingIdKey = (clientId: string, messageId: number): string => `${OUTGOING_ID}${enc(clientId)}:${pad(messageId)}`
const incomingKey = (clientId: string, messageId: number | undefined): string => `${INCOMING}${enc(clientId)}:${pad(messageId)}`
/** every key under a prefix ending in ':' (';' is the next byte) */
const range = (prefix: string): { gte: string, lt: string } => ({ gte: prefix, lt: `${prefix.slice(0, -1)};` })
/**
 * the field of an incoming QoS 2 packet written in the batch that queued its message (qos2-guard.ts): it was
 * published, and is not to be published again after a crash; aedes-persistence-level keeps it as it is
 */
export const QUEUED = 'wardenQueued'
/** a message's queue identity: the broker that numbered it and its number */
/** an incoming packet as aedes-persistence-level stores it: the packet's own fields and its message id */
const incomingForm = (packet: StoredPacket): StoredPacket => {
  const stored = new Packet(packet) as StoredPacket
  stored.messageId = packet.messageId
  if (packet[QUEUED] === 1) stored[QUEUED] = 1
  return stored
}

/**
 * an incoming-store entry of the index: the record as stored and its encoded form, each made when first
 * needed. A QoS 2 message's records are staged when it arrives and are, in the common case, dropped (its
 * owner) or replaced (its packet, by the form flagged as queued) before anything reads or writes them:
 * encoding each cost as much as its write (two of a QoS 2 message's six encodings). A record made in this
 * run is read as a copy of the form it was made from, not decoded again: aedes reads every packet once more
 * on its PUBREL (to know it is there), and that decoding was 3 % of the broker's CPU in a QoS 2 profile.
 */
class Entry {
  #make: (() => StoredPacket) | undefined
  #form: StoredPacket | undefined
  #value: Buffer | undefined
  /** its key is on disk (put by this store, read from disk, or a record this one replaced was): its removal is a
   * delete to write */
  written: boolean
  constructor (value: Buffer | undefined, make?: () => StoredPacket, written = false) {
    this.#value = value
    this.#make = make
    this.written = written
  }

  get value (): Buffer {
    this.#value ??= encodePacket(this.#formed() ?? {})
    return this.#value
  }

  /** the record, for a reader of its own: a shallow copy of its form, or decoded afresh if read from disk */
  read (): StoredPacket {
    const form = this.#formed()
    return form !== undefined ? { ...form } : msgpack.decode(this.value) as StoredPacket
  }

  #formed (): StoredPacket | undefined {
    if (this.#form === undefined && this.#make !== undefined) {
      this.#form = this.#make()
      this.#make = undefined
    }
    return this.#form
  }
}
/** an entry made from a packet in this run, encoded now (it is written at once) */
const encodedEntry = (packet: StoredPacket): Entry => {
  const form = incomingForm(packet)
  return new Entry(encodePacket(form), () => form)
}
/** the client id of a key `<prefix><encoded id>:…` */
const clientOf = (key: string, prefix: string): string => decodeURIComponent(key.slice(prefix.length, key.indexOf(':', prefix.length)))

/**
 * a message sent and not yet acknowledged: its queue key, the packet as last updated, and whether its
 * `outgoing-id:` key is on disk (a QoS 1 message's is not, unless an earlier store or run wrote it)
 */
/** a record to write with a queue write: staged ones are in the index already, as this entry */
interface Pending {
  readonly clientId: string
  readonly messageId: number
  readonly entry: Entry
  readonly staged: boolean
  readonly unlessQueued: boolean
}

interface Sent {
  readonly queueKey: string
  readonly packet: StoredPacket
  readonly onDisk: boolean
  /** its id is in its queue entry (given when queued, or read back from it): no `outgoing-id:` key needed */
  readonly inQueue?: boolean
  /** given when queued and not yet handed to outgoingUpdate: a delivery still to come, on `conn` */
  readonly waiting?: boolean
  /** the connection it was sent on (see #connections); undefined: read from disk, sent by an earlier run */
  readonly conn?: number
  /** the value of its `outgoing-id:` key (or of its queue entry, when its id is in it) when this store wrote or read
   * it: what a resumed session is sent */
  readonly value?: Buffer
}

/**
 * A queue's entries in the order they were queued. LevelDB lists keys in byte order, the broker id before the
 * counter: after a restart under another broker id (the default one names the process id) a queue held the
 * new run's messages ahead of the old one's whenever the new id sorted first (a process id past 9999, or
 * wrapped round), so a subscriber got a publisher's later messages before its earlier ones. Each broker id's
 * entries are in counter order; the runs go by their first counter, which Warden starts from the clock
 * (qos2-guard.ts), so older runs first (an earlier store counted from 0: those before Warden's). Ties: key order.
 */
async function * readInOrder (db: Level<string, unknown>, prefix: string, q: Queue | undefined): AsyncGenerator<[string, Buffer]> {
  const first = new Map<string, number>()
  for (const key of q?.queued.keys() ?? []) {
    const cut = key.lastIndexOf(':') + 1
    const run = key.slice(0, cut)
    const n = Number(key.slice(cut))
    const had = first.get(run)
    if (had === undefined || n < had) first.set(run, n)
  }
  // one run (the usual case) or none known: the whole prefix, as before
  const runs = first.size > 1
    ? [...first].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : 1)).map(([run]) => run)
    : [prefix]
  for (const run of runs) yield * db.iterator<string, Buffer>({ ...range(run), ...BUFFER })
}

/** the key `messageId` as msgpack writes it (a 9-byte string), and nil, what a queued message not given an id holds */
const MESSAGE_ID_KEY = Buffer.from([0xa9, ...Buffer.from('messageId')])
const NIL = 0xc0
/**
 * whether a stored packet may hold a packet id, read without decoding it (a start-up reads every queued message:
 * decoding each cost 30 times this): its last `messageId` key is its own field (a message's last, after its
 * payload; a PUBREL has none), not followed by nil. A payload holding those bytes costs a decoding, no more.
 */
function mayHoldId (blob: Buffer): boolean {
  const at = blob.lastIndexOf(MESSAGE_ID_KEY)
  return at >= 0 && blob[at + MESSAGE_ID_KEY.length] !== NIL
}

/** packet id of a queued message not sent yet (0 is not an MQTT packet id, but aedes-persistence's tests use it) */
const UNSENT = -1

/** one client's queue: its queued messages (packet id once sent, UNSENT before) and the ones sent, by packet id */
interface Queue { readonly queued: Map<string, number>, readonly sent: Map<number, Sent> }

/** an incoming QoS 2 packet awaiting PUBREL, by its client and packet id */
export interface IncomingRef {
  readonly clientId: string
  readonly messageId: number
}

/** an incoming-store record (the QoS 2 guard's, under its pseudo client id) */
export interface IncomingRecord {
  readonly clientId: string
  readonly packet: StoredPacket
}

/** a record staged with a QoS 2 message: encoded only if it is read or written */
export interface StagedRecord {
  readonly clientId: string
  readonly messageId: number
  /** the record as stored (its fields copied now), or what makes it (called at most once, and maybe never) */
  readonly packet: StoredPacket | (() => StoredPacket)
  /** written only if the message is not queued after all (a publish that failed); dropped once it is */
  readonly unlessQueued?: boolean
  /**
   * its session ends with its connection (3.1.1 clean session, MQTT 5 Session Expiry 0): in the index only, never
   * written (nor deleted), unless it replaces a record on disk. After a crash nothing would read it: the session
   * it belongs to is gone, and its message's queue entries are on disk without it.
   */
  readonly volatile?: boolean
}

/**
 * Incoming-store records written in one batch with a QoS 2 message's queue entries (qos2-guard.ts): one
 * LevelDB batch is on disk whole or not at all, so a message's records are never on disk without its queue
 * entries, nor the other way round, and the publisher's PUBREC waits for one write instead of three.
 */
export interface QueueRecords {
  /** `records` are in the index now (a PUBREL or a PUBLISH sent again finds them), on disk with the next
   * QoS 2 queue write of `packet` (its broker id and counter): lost in a crash before it, as the message is */
  stage (packet: StoredPacket, records: readonly StagedRecord[]): void
  /** `records` are put, in the index and on disk, with the next QoS 2 queue write of `packet` */
  attach (packet: StoredPacket, records: readonly IncomingRecord[]): void
  /**
   * writes what is still pending for `packet`, resolved once on disk: `queued` (its queue entries are on disk,
   * written apart from these records), as a queue write would; else (its publish failed) only what was staged
   */
  flush (packet: StoredPacket, opts: { queued: boolean }): Promise<void>
  /** whether the store holds an incoming record (in its index, which holds every one on disk) */
  holds (clientId: string, messageId: number): boolean
}

export interface LevelQueues extends QueueRecords {
  /** whether a client has incoming QoS 2 packets awaiting PUBREL (from the index) */
  hasIncoming (clientId: string): boolean
  /** the packet ids of a client's incoming QoS 2 packets awaiting PUBREL (from the index) */
  incomingIds (clientId: string): number[]
  /** group commit's counters: batches written and operations in them */
  readonly commits: { batches: number, ops: number }
}

/** a call with nothing to wait for: resolved already (shared: it carries no value) */
const DONE: Promise<void> = Promise.resolve()
/** the answer of an acknowledgement of nothing held (shared, as DONE) */
const NOTHING: Promise<undefined> = Promise.resolve(undefined)

/**
 * the promise `call` returns, or its throw as a rejection. The message path's store calls are not async
 * functions: each would add two promises (its own, and its await's) to the one group commit gives, and a QoS 2
 * message makes five such calls. What each resolves after is unchanged: the same group-commit batch.
 */
function answered<T> (call: () => Promise<T>): Promise<T> {
  try {
    return call()
  } catch (err) {
    return Promise.reject(err)
  }
}

/**
 * An aedes persistence (the interface of aedes-persistence 11's async stores): `setup` loads the index of
 * queued and incoming packets, then the message path runs on it.
 */
export class LevelQueueStore implements LevelQueues {
  readonly #db: Level<string, unknown>
  readonly #base: AsyncLevelPersistence
  readonly #commit: GroupCommit
  readonly #queues = new Map<string, Queue>()
  /**
   * a number for each connection (aedes client) this store has sent on: a session's queue read as it resumes
   * leaves out what this same connection was sent meanwhile — a message queued before the read and delivered
   * live once the client was registered was sent twice, live and from the queue (at QoS 2, once its first
   * copy had completed, a second message under the same id)
   */
  readonly #connections = new WeakMap<object, number>()
  #lastConnection = 0
  /** incoming QoS 2 packets by client, then packet id: each reader gets a copy of its own (Entry.read) */
  readonly #incoming = new Map<string, Map<number, Entry>>()
  /** records staged or attached to a QoS 2 message's queue write, by its queue identity */
  readonly #withQueue = new Map<string, Pending[]>()
  /** gives a live subscriber's QoS 2 message its packet id as it is queued (aedes/queued-ids.ts) */
  #idAtQueue: IdAtQueue | undefined

  constructor (db: Level<string, unknown>) {
    this.#db = db
    this.#base = new AsyncLevelPersistence(db)
    // classic-level's own array batch: the public one's per-operation checks and copies cost more than the write
    this.#commit = createGroupCommit(createLevelWriter(db))
  }

  get commits (): { batches: number, ops: number } { return this.#commit.stats }

  /** from now on, QoS 2 messages for subscribers `assign` gives an id are queued with it */
  giveIdsAtQueue (assign: IdAtQueue): void { this.#idAtQueue = assign }

  get broker (): unknown { return this.#base.broker }

  async setup (broker: unknown): Promise<void> {
    await this.#base.setup(broker)
    // a queue entry written with its packet id (given as it was queued, aedes/queued-ids.ts) holds that id as an
    // `outgoing-id:` key does: a message sent under it, or its PUBREL. Known from the start, not only once the
    // session's queue is read: an id given to a new message before that read (the session back, its queue being
    // read) was checked against the ids known (#queueWithId), and one held only on disk went to the new message
    // too; the message holding it was then sent again under another id (MQTT-4.4.0-1), its PUBREL too.
    const withId: Array<{ clientId: string, key: string, packet: StoredPacket, blob: Buffer }> = []
    for await (const [key, blob] of this.#db.iterator<string, Buffer>({ ...range(OUTGOING), ...BUFFER })) {
      const clientId = clientOf(key, OUTGOING)
      this.#queue(clientId).queued.set(key, UNSENT)
      if (!mayHoldId(blob)) continue
      const packet = msgpack.decode(blob) as StoredPacket
      if (typeof packet.messageId === 'number' && packet.messageId > 0) withId.push({ clientId, key, packet, blob })
    }
    for await (const [key, blob] of this.#db.iterator<string, Buffer>({ ...range(OUTGOING_ID), ...BUFFER })) {
      const clientId = clientOf(key, OUTGOING_ID)
      const packet = msgpack.decode(blob) as StoredPacket
      const messageId = Number(key.slice(key.lastIndexOf(':') + 1))
      const queueKey = outgoingKey(clientId, packet.brokerId, packet.brokerCounter)
      const q = this.#queue(clientId)
      // an id key whose message is gone (a crash between two writes of an earlier store): nothing to send
      if (!q.queued.has(queueKey)) {
        this.#commit.del(key)
        this.#dropIfEmpty(clientId, q)
        continue
      }
      q.queued.set(queueKey, messageId)
      q.sent.set(messageId, { queueKey, packet, onDisk: true, value: blob })
    }
    for (const { clientId, key, packet, blob } of withId) {
      const q = this.#queue(clientId)
      const id = packet.messageId as number
      // sent again under an id written apart since (its connection had closed before sending it), which
      // stands; or an id another entry holds (the first read keeps it, the other goes under a new one, as
      // outgoingStream does)
      if (q.queued.get(key) !== UNSENT || q.sent.has(id)) continue
      q.queued.set(key, id)
      q.sent.set(id, { queueKey: key, packet, onDisk: false, inQueue: true, value: blob })
    }
    for await (const [key, blob] of this.#db.iterator<string, Buffer>({ ...range(INCOMING), ...BUFFER })) {
      const clientId = clientOf(key, INCOMING)
      this.#incomingOf(clientId).set(Number(key.slice(key.lastIndexOf(':') + 1)), new Entry(blob, undefined, true))
    }
  }

  /** the packet ids a session's queue holds (messages sent or given an id, PUBRELs), from the index */
  outgoingIds (clientId: string): number[] {
    return [...this.#queues.get(clientId)?.sent.keys() ?? []].filter((id) => id > 0)
  }

  #queue (clientId: string): Queue {
    let q = this.#queues.get(clientId)
    if (q === undefined) {
      q = { queued: new Map(), sent: new Map() }
      this.#queues.set(clientId, q)
    }
    return q
  }

  #incomingOf (clientId: string): Map<number, Entry> {
    let m = this.#incoming.get(clientId)
    if (m === undefined) {
      m = new Map()
      this.#incoming.set(clientId, m)
    }
    return m
  }

  #dropIfEmpty (clientId: string, q: Queue): void {
    if (q.queued.size === 0 && q.sent.size === 0) this.#queues.delete(clientId)
  }

  // ---- the queues of persistent sessions

  async outgoingEnqueue (sub: QueueSub, packet: StoredPacket): Promise<void> {
    await this.outgoingEnqueueCombi([sub], packet)
  }

  outgoingEnqueueCombi (subs: QueueSub[] | null | undefined, packet: StoredPacket): Promise<unknown> {
    return answered(() => this.#enqueue(subs, packet))
  }

  #enqueue (subs: QueueSub[] | null | undefined, packet: StoredPacket): Promise<unknown> {
    const records = this.#withQueue.size > 0 ? this.#take(packet) : undefined
    const none = subs === null || subs === undefined || subs.length === 0
    if (none && records === undefined) return Promise.resolve(packet)
    if (!none) {
      // one encoding for every subscriber not given an id (the same value under each key)
      let value: Buffer | undefined
      const assign = packet.qos === 2 ? this.#idAtQueue : undefined
      for (const sub of subs) {
        const key = outgoingKey(sub.clientId, packet.brokerId, packet.brokerCounter)
        const q = this.#queue(sub.clientId)
        // the same message queued again (a QoS 2 message published again after a crash) keeps its packet id
        const had = q.queued.get(key)
        if (had !== undefined) {
          // an entry written with its id, or with its PUBREL since, stays as it is
          const sent = had !== UNSENT ? q.sent.get(had) : undefined
          if (sent?.inQueue === true && sent.queueKey === key) continue
        } else if (assign !== undefined && sub.qos === 2 && sub.numbered !== true && this.#queueWithId(q, key, sub.clientId, packet, assign)) {
          continue
        } else {
          q.queued.set(key, UNSENT)
        }
        value ??= encodePacket(new Packet(packet))
        this.#commit.put(key, value)
      }
    }
    // in the same batch as the queue entries: on disk together or not at all. A QoS 2 message queued at
    // QoS 1 for some (queued-qos.ts) is queued in two writes, the QoS 2 one last: the staged records go with
    // the first, the attached ones (the mark) with the QoS 2 one
    if (records !== undefined) {
      this.#write(records, packet.qos === 2)
      if (packet.qos !== 2) {
        const attached = records.filter((r) => !r.staged)
        if (attached.length > 0) this.#pend(packet, attached)
      }
    }
    // the publisher is acknowledged once the message is in every queue, on disk
    return this.#commit.durable()
  }

  /** queues `packet` for a subscriber under the id `assign` gives it, if it gives one that is free */
  #queueWithId (q: Queue, key: string, clientId: string, packet: StoredPacket, assign: IdAtQueue): boolean {
    const given = assign(clientId, packet)
    if (given === undefined) return false
    // an id still held by another message (read back from disk, or one sent before this run's ids caught up)
    if (q.sent.has(given.id)) {
      given.drop()
      return false
    }
    const form = new Packet(packet) as StoredPacket
    form.messageId = given.id
    const value = encodePacket(form)
    q.queued.set(key, given.id)
    const conn = this.#connectionOf(given.client as Session)
    q.sent.set(given.id, { queueKey: key, packet: form, onDisk: false, inQueue: true, waiting: true, value, conn })
    this.#commit.put(key, value)
    return true
  }

  stage (packet: StoredPacket, records: readonly StagedRecord[]): void {
    const pended: Pending[] = []
    for (const r of records) {
      const make = r.packet
      let entry: Entry
      if (typeof make === 'function') entry = new Entry(undefined, () => incomingForm(make()))
      else {
        const form = incomingForm(make)
        entry = new Entry(undefined, () => form)
      }
      const m = this.#incomingOf(r.clientId)
      // a record in place of one on disk is written, so that the one on disk is not read after a crash
      entry.written = m.get(r.messageId)?.written === true
      m.set(r.messageId, entry)
      // a volatile record in place of none on disk: in the index only, nothing to write with the queue entries
      if (r.volatile === true && !entry.written) continue
      pended.push({ clientId: r.clientId, messageId: r.messageId, entry, staged: true, unlessQueued: r.unlessQueued === true })
    }
    if (pended.length > 0) this.#pend(packet, pended)
  }

  attach (packet: StoredPacket, records: readonly IncomingRecord[]): void {
    this.#pend(packet, records.map((r) => ({
      clientId: r.clientId, messageId: r.packet.messageId ?? 0, entry: encodedEntry(r.packet), staged: false, unlessQueued: false
    })))
  }

  flush (packet: StoredPacket, { queued }: { queued: boolean }): Promise<void> {
    return answered(() => {
      const records = this.#take(packet)
      return records !== undefined && this.#write(records, queued) ? this.#commit.durable() : DONE
    })
  }

  #pend (packet: StoredPacket, records: Pending[]): void {
    const id = identityOf(packet)
    const before = this.#withQueue.get(id)
    if (before === undefined) this.#withQueue.set(id, records)
    else before.push(...records)
  }

  #take (packet: StoredPacket): Pending[] | undefined {
    const id = identityOf(packet)
    const records = this.#withQueue.get(id)
    if (records !== undefined) this.#withQueue.delete(id)
    return records
  }

  /**
   * puts `records` in the batch under way; whether it put any. `queued`: the batch queues the message (the
   * attached records go too, the ones staged unless queued are dropped); else a publish that failed
   */
  #write (records: readonly Pending[], queued: boolean): boolean {
    let any = false
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as Pending
      if (r.staged) {
        const m = this.#incoming.get(r.clientId)
        // removed meanwhile (a clean session's table cleared): not brought back
        if (m?.get(r.messageId) !== r.entry) continue
        if (r.unlessQueued && queued) {
          m.delete(r.messageId)
          if (m.size === 0) this.#incoming.delete(r.clientId)
          continue
        }
        // replaced in this same batch by a record attached after it (the packet, flagged as queued): only
        // that one is encoded and written, as the batch would keep only the last write of a key anyway
        if (queued && records.some((o, j) => j > i && !o.staged && o.clientId === r.clientId && o.messageId === r.messageId)) continue
      } else {
        if (!queued) continue
        this.#incomingOf(r.clientId).set(r.messageId, r.entry)
      }
      this.#commit.put(incomingKey(r.clientId, r.messageId), r.entry.value)
      r.entry.written = true
      any = true
    }
    return any
  }

  #connectionOf (client: Session): number {
    let n = this.#connections.get(client)
    if (n === undefined) {
      n = ++this.#lastConnection
      this.#connections.set(client, n)
    }
    return n
  }

  outgoingUpdate (client: Session, packet: StoredPacket): Promise<void> {
    return answered(() => this.#update(client, packet))
  }

  #update (client: Session, packet: StoredPacket): Promise<void> {
    const q = this.#queues.get(client.id)
    const conn = this.#connectionOf(client)
    const messageId = packet.messageId ?? 0
    let queueKey: string
    if (packet.brokerId !== undefined && packet.brokerId !== null) {
      // a queued message about to be sent under a packet id
      queueKey = outgoingKey(client.id, packet.brokerId, packet.brokerCounter)
      const previous = q?.queued.get(queueKey)
      if (q === undefined || previous === undefined) throw noSuchPacket()
      const before = previous !== UNSENT && previous !== messageId ? q.sent.get(previous) : undefined
      if (before?.queueKey === queueKey) {
        // this connection has the message in flight already: sent from its queue as it resumed and live, the
        // second of the two (the live copy of a message queued before the read, whose publish reached the bus
        // after it; or a queue read's copy of one sent live meanwhile) is a second delivery (at QoS 2 a second
        // message). Not sent (aedes/unqueued-deliveries.ts). An id given as it was queued, for a delivery still to
        // come on this connection, is not one sent: a delivery under another id goes under that one
        if (before.conn === conn && before.waiting !== true) throw noSuchPacket()
        q.sent.delete(previous)
        if (before.onDisk) this.#commit.del(outgoingIdKey(client.id, previous))
      }
    } else {
      // a PUBREL replacing the PUBLISH sent under that id
      const sent = q?.sent.get(messageId)
      if (q === undefined || sent === undefined) throw noSuchPacket()
      queueKey = sent.queueKey
      packet.brokerId = sent.packet.brokerId
      packet.brokerCounter = sent.packet.brokerCounter
    }
    q.queued.set(queueKey, messageId)
    // a QoS 1 message whose id is lost in a crash is sent again under another id: QoS 1 allows the
    // duplicate, so its id stays in memory. A QoS 2 PUBLISH or PUBREL must be on disk under its id before
    // it is sent, or the subscriber could get it again under a new id after a crash (a second delivery).
    const inMemory = packet.cmd === 'publish' && packet.qos === 1
    // an id another message held on disk stays its own until that message is removed
    const held = q.sent.get(messageId)
    // queued with its id (or read back so): on disk already, in the queue entry
    const inQueue = held?.inQueue === true && held.queueKey === queueKey
    if (inQueue && packet.cmd === 'publish') {
      q.sent.set(messageId, { queueKey, packet, onDisk: held.onDisk, inQueue, value: held.value, conn })
      return DONE
    }
    if (inMemory) {
      q.sent.set(messageId, { queueKey, packet, onDisk: held?.onDisk === true && held.queueKey === queueKey, conn })
      return DONE
    }
    const value = encodePacket(packet)
    if (inQueue) {
      // the PUBREL replaces the message in its queue entry: the subscriber has it (PUBREC), and what is sent
      // after a crash is this PUBREL
      q.sent.set(messageId, { queueKey, packet, onDisk: held.onDisk, inQueue, value, conn })
      this.#commit.put(queueKey, value)
      return this.#commit.durable()
    }
    // under its id only: the queue entry keeps the message as queued, and outgoingStream sends the id's
    // value in its place (aedes-persistence-level wrote both keys; it reads this one for an acknowledgement)
    q.sent.set(messageId, { queueKey, packet, onDisk: true, value, conn })
    this.#commit.put(outgoingIdKey(client.id, messageId), value)
    return this.#commit.durable()
  }

  // not an async function: every acknowledgement makes this call (one promise, settled now)
  outgoingClearMessageId (client: Session, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const q = this.#queues.get(client.id)
    const messageId = packet.messageId ?? 0
    const sent = q?.sent.get(messageId)
    if (q === undefined || sent === undefined) return NOTHING
    q.sent.delete(messageId)
    q.queued.delete(sent.queueKey)
    this.#dropIfEmpty(client.id, q)
    // not awaited: a removal lost in a crash sends the message once more (QoS 1) or its PUBREL (QoS 2)
    if (sent.onDisk) this.#commit.del(outgoingIdKey(client.id, messageId))
    this.#commit.del(sent.queueKey)
    return Promise.resolve(sent.packet)
  }

  outgoingStream (client: Session): Readable {
    const db = this.#db
    const commit = this.#commit
    const queues = this.#queues
    const connections = this.#connections
    const resuming = isOpenConnection(client)
    const clientId = client.id
    const prefix = outgoingPrefix(clientId)
    return Readable.from((async function * () {
      // what was written or removed so far is read back as it is now
      await commit.durable()
      for await (const [key, blob] of readInOrder(db, prefix, queues.get(clientId))) {
        const q = queues.get(clientId)
        const messageId = q?.queued.get(key)
        const sent = messageId !== undefined && messageId !== UNSENT ? q?.sent.get(messageId) : undefined
        // a connection resuming its session was sent this already (live, once the client was registered, while the
        // queue was being read): in flight, not to send again (a closed one's session ending: it goes too)
        if (sent !== undefined && sent.queueKey === key && sent.conn !== undefined && resuming && sent.conn === connections.get(client)) continue
        if (sent?.value !== undefined && sent.queueKey === key) {
          const packet = msgpack.decode(sent.value) as StoredPacket
          // given its id as it was queued for a connection that closed before sending it: a first delivery, under
          // the id the reading connection gives it (what the old one had given is written over then)
          if (sent.waiting === true && resuming) packet.messageId = undefined
          // a QoS 2 message sent: as last written under its id (the PUBLISH with its id, or the PUBREL)
          yield packet
          continue
        }
        const packet = msgpack.decode(blob) as StoredPacket
        // a queue entry written with its packet id (this store, or aedes-persistence-level): sent under it, and
        // known by it from now on; unless another message holds that id (then it is sent under a new one)
        const written = packet.messageId
        if (sent === undefined && typeof written === 'number' && written > 0 && q?.queued.get(key) === UNSENT) {
          const holder = q.sent.get(written)
          if (holder === undefined) {
            q.queued.set(key, written)
            q.sent.set(written, { queueKey: key, packet, onDisk: false, inQueue: true, value: blob })
          } else if (holder.queueKey !== key) {
            packet.messageId = undefined
          }
        }
        // a QoS 1 message sent in this run: the id it was sent under, kept in memory
        if (messageId !== undefined && messageId !== UNSENT && packet.cmd === 'publish') packet.messageId = messageId
        yield packet
      }
    })())
  }

  // ---- incoming QoS 2 packets awaiting PUBREL

  async incomingStorePacket (client: Session, packet: StoredPacket): Promise<void> {
    const entry = encodedEntry(packet)
    this.#incomingOf(client.id).set(packet.messageId ?? 0, entry)
    this.#commit.put(incomingKey(client.id, packet.messageId), entry.value)
    entry.written = true
    // on disk before PUBREC: the publisher sends it no more after that
    await this.#commit.durable()
  }

  incomingGetPacket (client: Session, packet: { messageId?: number }): Promise<StoredPacket> {
    const entry = this.#incoming.get(client.id)?.get(packet.messageId ?? 0)
    // not an async function: one promise, settled now (a miss is every new QoS 2 PUBLISH's answer)
    if (entry === undefined) return Promise.reject(noSuchPacket())
    try {
      return Promise.resolve(entry.read())
    } catch (err) {
      return Promise.reject(err)
    }
  }

  incomingDelPacket (client: Session, packet: { messageId?: number }): Promise<void> {
    const m = this.#incoming.get(client.id)
    const id = packet.messageId ?? 0
    const entry = m?.get(id)
    // the index holds every incoming key on disk: one it does not hold needs no delete (the QoS 2 guard
    // deletes records a message may not have), nor one never written (a volatile record)
    if (m === undefined || entry === undefined) return DONE
    m.delete(id)
    if (m.size === 0) this.#incoming.delete(client.id)
    if (!entry.written) return DONE
    this.#commit.del(incomingKey(client.id, packet.messageId))
    // on disk before PUBCOMP: a packet found stored after a crash is taken as not yet released (else the
    // publisher's next message under this id, once it has PUBCOMP, is taken for a retransmission and dropped)
    return this.#commit.durable()
  }

  async cleanIncoming (client: Session): Promise<void> {
    const m = this.#incoming.get(client.id)
    if (m === undefined) return
    this.#incoming.delete(client.id)
    let any = false
    for (const [messageId, entry] of m) {
      if (!entry.written) continue
      this.#commit.del(incomingKey(client.id, messageId))
      any = true
    }
    if (any) await this.#commit.durable()
  }

  holds (clientId: string, messageId: number): boolean {
    return this.#incoming.get(clientId)?.has(messageId) === true
  }

  hasIncoming (clientId: string): boolean {
    return (this.#incoming.get(clientId)?.size ?? 0) > 0
  }

  incomingIds (clientId: string): number[] {
    return [...(this.#incoming.get(clientId)?.keys() ?? [])]
  }

  /** the incoming QoS 2 packets stored, for the QoS 2 guard's recovery at start-up */
  * listIncoming (): Iterable<IncomingRef> {
    for (const [clientId, m] of this.#incoming) for (const messageId of m.keys()) yield { clientId, messageId }
  }

  // ---- the rest, as aedes-persistence-level does it (after the writes under way, which it cannot see)

  async storeRetained (packet: StoredPacket): Promise<void> { await this.#base.storeRetained(packet) }
  createRetainedStreamCombi (patterns: string[]): Readable { return this.#base.createRetainedStreamCombi(patterns) }
  createRetainedStream (pattern: string): Readable { return this.#base.createRetainedStream(pattern) }
  async addSubscriptions (client: Session, subs: readonly Subscription[]): Promise<void> { await this.#base.addSubscriptions(client, subs) }
  async removeSubscriptions (client: Session, topics: string[]): Promise<void> { await this.#base.removeSubscriptions(client, topics) }
  async subscriptionsByClient (client: Session): Promise<Subscription[]> { return await this.#base.subscriptionsByClient(client) }
  async countOffline (): Promise<{ subsCount: number, clientsCount: number }> { return await this.#base.countOffline() }
  // every QoS 1/2 publish asks: its promise as it is (no async wrapper: two promises fewer a message)
  subscriptionsByTopic (topic: string): Promise<unknown[]> { return this.#base.subscriptionsByTopic(topic) }
  async cleanSubscriptions (client: Session): Promise<void> { await this.#base.cleanSubscriptions(client) }
  async putWill (client: Session, packet: StoredPacket): Promise<void> { await this.#base.putWill(client, packet) }
  async getWill (client: Session): Promise<StoredPacket | undefined> { return await this.#base.getWill(client) }
  async delWill (client: Session): Promise<StoredPacket | undefined> { return await this.#base.delWill(client) }
  streamWill (brokers: unknown): Readable { return this.#base.streamWill(brokers) }
  getClientList (topic: string): Readable { return this.#base.getClientList(topic) }

  async destroy (): Promise<void> {
    await this.#commit.durable().catch(() => {})
    await this.#base.destroy()
  }
}
