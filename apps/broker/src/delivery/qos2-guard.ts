// Closes aedes 1.2's QoS 2 loss window across a crash.
//
// aedes stores an incoming QoS 2 PUBLISH, publishes it (stores it in each persistent subscriber's queue,
// then delivers it), and only then sends PUBREC. If the process dies in between, the publisher, which has
// no PUBREC, sends the PUBLISH again; aedes finds it stored and answers PUBREC without publishing: the
// message is acknowledged and lost. Publishing it again whenever it is found would instead duplicate the
// ones that had been published. So Warden records, durably and next to the stored packet, that it was
// published ("the mark"), right after it reached the subscribers' queues and before any live delivery.
// A packet an earlier run stored without its mark is published again: at start-up, before any subscriber
// can reconnect and drain its queue (the store lists them: level), or else when the publisher sends it again.
// The packet gets its queue identity (broker id, counter) before it is first stored, so that publishing it
// again rewrites the same queue entries instead of adding second copies. Published again, it has no client:
// the account that sent it is stored beside it (qos2-owner.ts) and must still own the topic then
// (qos2-recheck.ts); a refused one is emptied in the store, so that it is neither tried again nor published
// when its publisher sends it again.
// On the level store (QueueRecords) the packet is written in the very batch that queues the message, flagged
// so (QUEUED): on disk it is never without its queue entries, the flag stands for the mark, and the owner
// record is written only if the publish fails before queueing. Four awaited writes before PUBREC become one.
// On Redis (MarkRecords) the mark is set in the script call that queues the message: Redis has no start-up
// recovery, so a message found unmarked is published again only when its publisher sends it again, by which
// time a subscriber may have taken it from its queue; it must never be in a queue without its mark.
import type { Aedes, Client, PublishPacket } from 'aedes'
import { brokerInternals, type Done } from '../aedes/internals.js'
import { connOf, outlivesConnection, packetCounter, setPacketCounter } from '../aedes/accessors.js'
import { fn, patch } from '../aedes/patch.js'
import { identityOf, isConnection, type AedesStore, type Session, type StoredPacket } from '../aedes/store.js'
import { RESERVED_PREFIX, VOID_TOPIC } from '../policy/internal-topics.js'
import { QUEUED, type IncomingRecord, type IncomingRef, type QueueRecords } from '../store/level-queues.js'
import { keptInProcess, type MarkRecords } from '../store/redis-queues.js'
import { OWNER_PREFIX, QOS2_RECORD_PREFIX, ownerRecord, readOwner, writeOwner } from './qos2-owner.js'
import type { Qos2Recheck } from './qos2-recheck.js'
import { GroupCopyFailed } from './emit-failure.js'
import { GROUP_PREFIX, readPendingGroups, writePendingGroups, type GroupMessage, type ResendToGroups } from './qos2-group-copy.js'

/** The mark of client C lives in the incoming store of a pseudo client `MARK_PREFIX + C`: real client
 * ids cannot contain U+0000 (the packet guard refuses them). */
export const MARK_PREFIX = `${QOS2_RECORD_PREFIX}:`
/** the pseudo client ids of the records kept beside a client's packet: its mark, its owner, its groups' copy */
const RECORD_PREFIXES = [MARK_PREFIX, OWNER_PREFIX, GROUP_PREFIX] as const
/** the guard's own records (marks, owners), not clients' packets */
const isRecord = (clientId: string): boolean => clientId.startsWith(QOS2_RECORD_PREFIX)

type Stored = StoredPacket
const WHY = 'aedes answers PUBREC for a stored QoS 2 PUBLISH it may never have published (crash between store and publish)'

const EMPTY = Buffer.alloc(0)
/** a connection whose session ends with it (3.1.1 Clean Session, MQTT 5 Session Expiry 0, a v5 session resumed with
 * none); not a stored session read back (`{ id }`) */
const endsWithConnection = (client: Session): boolean => isConnection(client) && !outlivesConnection(client as Client)
/** what a staged store answers: nothing to wait for (shared: it carries no value) */
const STAGED: Promise<void> = Promise.resolve()
const noop = (): void => {}

/** message numbering that keeps deliveries in order (the publish gate) */
export interface Numbering {
  reserve (): number
  release (n: number): void
}

export interface Qos2Guard {
  /** publishes the packets an earlier run stored but did not mark; returns how many */
  recover (stored: AsyncIterable<IncomingRef>): Promise<number>
}

/**
 * `numbering`: the gate's, so that incoming QoS 2 messages keep their place in delivery order; `queueRecords`
 * (level): the mark goes to disk in the batch that queues the message, not in one of its own after it; `marks`
 * (Redis): the mark is set in the script call that queues the message; `resendToGroups`: a message sent again
 * whose consumer groups' copy was not kept goes to those groups alone (qos2-group-copy.ts)
 */
export function installQos2Guard (
  broker: Aedes, p: AedesStore, recheck: Qos2Recheck, numbering: Numbering, queueRecords?: QueueRecords, marks?: MarkRecords,
  resendToGroups?: ResendToGroups
): Qos2Guard {
  const raw = { store: p.incomingStorePacket.bind(p), get: p.incomingGetPacket.bind(p) }
  // Queue entries are keyed by broker id and counter. Starting the counter from the clock keeps this
  // run's keys apart from an earlier run's even under the same (configured) broker id; from 0, a restarted
  // broker would overwrite messages still queued from before.
  const start = Math.max(packetCounter(broker), Date.now() * 1000)
  setPacketCounter(broker, start)
  /** packets stored but not yet in the subscribers' queues, by identity */
  const pending = new Map<string, { clientId: string, messageId: number | undefined, packet?: Stored }>()
  const markOwner = (clientId: string): { id: string } => ({ id: MARK_PREFIX + clientId })
  /** numbers taken for stored packets whose publish has not finished */
  const reserved = new Set<number>()
  const giveBack = (pk: Stored): void => {
    const n = pk.brokerCounter
    if (pk.brokerId === broker.id && n !== undefined && reserved.delete(n)) numbering.release(n)
  }

  const markRecord = (clientId: string, messageId: number | undefined, pk: Stored): IncomingRecord => ({
    clientId: MARK_PREFIX + clientId,
    packet: {
      cmd: 'publish', topic: '', payload: EMPTY, qos: 2, retain: false, dup: false,
      messageId, brokerId: pk.brokerId, brokerCounter: pk.brokerCounter
    }
  })

  const isMarked = async (clientId: string, pk: Stored): Promise<boolean> => {
    try {
      const m = await p.incomingGetPacket(markOwner(clientId), pk)
      if (m.brokerId === pk.brokerId && m.brokerCounter === pk.brokerCounter) return true
    } catch {}
    // level: a packet written with its queue entries, flagged so, stands for the mark
    return pk[QUEUED] === 1
  }

  const storeIncoming = raw.store
  /** the owner, then the packet: on Redis made together, elsewhere each written and awaited in turn */
  const storeWithOwner = async (client: Session, packet: Stored, owner: ReturnType<Qos2Recheck['ownerOf']>, tracked: boolean): Promise<void> => {
    try {
      // the owner first (on Redis the order of the writes is what keeps a packet from being found without it)
      if (owner !== undefined && marks !== undefined) await storeBoth(client, packet, owner)
      else {
        if (owner !== undefined) await writeOwner(raw, client.id, packet, owner)
        await storeIncoming(client, packet)
      }
    } catch (err) {
      giveBack(packet) // never published
      throw err
    }
    if (tracked) pending.set(identityOf(packet), { clientId: client.id, messageId: packet.messageId })
  }
  /**
   * Redis: the owner and the packet in the store's script call of this turn, run in the order they were made (the
   * owner first; a later call runs after an earlier one): one round trip, where each was awaited in turn. A packet
   * written while its owner's write failed (a call split at its size limit) is removed before the store fails, as
   * it was never written when the owner's write came first: no packet is found without its owner.
   */
  const storeBoth = async (client: Session, packet: Stored, owner: NonNullable<ReturnType<Qos2Recheck['ownerOf']>>): Promise<void> => {
    const [own, stored] = await Promise.allSettled([writeOwner(raw, client.id, packet, owner), storeIncoming(client, packet)])
    if (own.status === 'rejected') {
      if (stored.status === 'fulfilled') await p.incomingDelPacket(client, packet).catch(noop)
      throw own.reason
    }
    if (stored.status === 'rejected') throw stored.reason
  }

  // not an async function: on level nothing is written here (the records are staged), and every QoS 2 message
  // passes it
  patch(p, 'incomingStorePacket', fn(3), () => (client, packet) => {
    // a throw is a rejection, as from the async function this was
    try {
      // refused publishes (rewritten to the void topic) are never published: nothing to mark
      const tracked = !isRecord(client.id) && !packet.topic.startsWith(RESERVED_PREFIX)
      if (tracked && packet.brokerId === undefined) {
        packet.brokerId = broker.id
        packet.brokerCounter = numbering.reserve()
        reserved.add(packet.brokerCounter)
      }
      // Redis: a connection whose session started clean and ends with it keeps its packets in this process
      // (MarkRecords.keepIncoming), refused ones too: nothing of its session is read after it, here or elsewhere
      if (marks !== undefined && keptInProcess(client)) {
        marks.keepIncoming(client, packet)
        return STAGED
      }
      // (an id the index holds is aedes's duplicate, never stored again: the check only keeps a record on disk flagged)
      if (tracked && queueRecords !== undefined && endsWithConnection(client) && !queueRecords.holds(client.id, packet.messageId ?? 0)) {
        // A publisher whose session ends with its connection (3.1.1 clean session, MQTT 5 Session Expiry 0): its
        // packet stays in the index (LevelQueues' StagedRecord.volatile). Nothing is written, so nothing is marked
        // or owned: after a crash its session is gone, and with it the packet id it would send again; in this run
        // a packet found again is never published again (recoverOne). Its message's queue entries go to disk before
        // PUBREC as always.
        queueRecords.stage(packet, [{ clientId: client.id, messageId: packet.messageId ?? 0, packet, volatile: true }])
        return STAGED
      }
      // a packet found stored always has its owner beside it (unless an earlier version stored it)
      const owner = tracked ? recheck.ownerOf(client) : undefined
      if (tracked && queueRecords !== undefined) {
        // level: in the index now, on disk with the message's queue entries and its mark, in one batch; a crash
        // before that batch loses them with the message, which was not acknowledged (no PUBREC yet)
        // The owner record is needed only to publish the packet again, which a packet written with its queue
        // entries never is: it goes to disk only if the publish fails before that.
        // Both are encoded only if read or written: the owner record is dropped, and the packet replaced by its
        // form flagged as queued, in the common case
        const messageId = packet.messageId ?? 0
        const ids = { messageId: packet.messageId, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter }
        const clientId = client.id
        const own = owner !== undefined
          ? [{ clientId: OWNER_PREFIX + clientId, messageId, packet: () => ownerRecord(clientId, ids, owner).packet as Stored, unlessQueued: true }]
          : []
        queueRecords.stage(packet, [...own, { clientId, messageId, packet }])
        pending.set(identityOf(packet), { clientId: client.id, messageId: packet.messageId, packet })
        return STAGED
      }
      return storeWithOwner(client, packet, owner, tracked)
    } catch (err) {
      return Promise.reject(err)
    }
  }, WHY, 'persistence')

  // The mark is on disk once the message is in its subscribers' queues, never before (it would stop a
  // message that reached no queue from being published again), and before anyone can receive it (a message
  // published again after being received is a second delivery): on level, in the very batch that writes the
  // queue entries, awaited with them; on Redis, in the script call that queues it; otherwise (or when it was
  // queued at QoS 2 for no one) right after them.
  // a message with nothing to mark (QoS 1, or a QoS 2 one not stored here) goes straight through: no promise more
  patch(p, 'outgoingEnqueueCombi', fn(3), (enqueue) => (subs, packet) => {
    if (pending.size === 0 || packet.qos !== 2) return enqueue(subs, packet)
    const key = identityOf(packet)
    const stored = pending.get(key)
    if (stored === undefined) return enqueue(subs, packet)
    pending.delete(key)
    return enqueueMarked(enqueue, subs, packet, stored)
  }, WHY, 'persistence')

  async function enqueueMarked (
    enqueue: AedesStore['outgoingEnqueueCombi'], subs: Parameters<AedesStore['outgoingEnqueueCombi']>[0], packet: Stored,
    stored: { clientId: string, messageId: number | undefined, packet?: Stored }
  ): Promise<unknown> {
    if (marks !== undefined) {
      marks.attach(packet, [markRecord(stored.clientId, stored.messageId, packet)])
      let result: unknown
      try {
        result = await enqueue(subs, packet)
      } catch (err) {
        await marks.flush(packet, { queued: false }) // the message may be in no queue: no mark
        throw err
      }
      await marks.flush(packet, { queued: true }) // queued at QoS 2 for no one: the mark after the queue entries
      return result
    }
    if (queueRecords === undefined) {
      const result = await enqueue(subs, packet)
      const mark = markRecord(stored.clientId, stored.messageId, packet)
      await p.incomingStorePacket({ id: mark.clientId }, mark.packet)
      return result
    }
    // level: the packet itself, written with the queue entries and flagged so, says what the mark would (no
    // record of its own to write and remove); a packet found again after a restart (stored.packet undefined)
    // gets the mark
    queueRecords.attach(packet, [stored.packet !== undefined
      ? { clientId: stored.clientId, packet: { ...stored.packet, [QUEUED]: 1 } }
      : markRecord(stored.clientId, stored.messageId, packet)])
    let result: unknown
    try {
      result = await enqueue(subs, packet)
    } catch (err) {
      // the packet and its owner, as if stored before the publish; no mark: the message may be in no queue
      await queueRecords.flush(packet, { queued: false })
      throw err
    }
    // queued at QoS 2 for no one (its subscriptions granted QoS 1): the records after the queue entries
    await queueRecords.flush(packet, { queued: true })
    return result
  }

  patch(brokerInternals(broker), 'publish', fn(3), (publish) => function guardedPublish (pk: PublishPacket, client: Client | null | Done, done?: Done): void {
    if (typeof client === 'function') { done = client; client = null }
    const packet = pk as Stored & PublishPacket
    if (packet.qos !== 2 || packet.brokerId === undefined) { publish(packet, client, done); return }
    const from = client
    // a publish that fails before reaching the queues must not leave its entry behind
    publish(packet, client, (err) => {
      if (pending.size > 0) pending.delete(identityOf(packet))
      giveBack(packet) // a no-op once it was delivered; otherwise later deliveries would wait for it
      if (err === undefined || err === null) { done?.(err); return }
      // level: what was staged for it goes to disk, as it would have been stored before the publish
      const flushed = queueRecords?.flush(packet, { queued: false }) ?? Promise.resolve()
      // the groups whose copy was not kept, recorded before the connection closes (qos2-group-copy.ts)
      const recorded = err instanceof GroupCopyFailed && from !== null && packet.messageId !== undefined
        ? flushed.then(async () => { await writePendingGroups(raw, from.id, packet, { keys: [...err.keys], messageExpiry: err.messageExpiry }) })
        : flushed
      recorded.then(() => done?.(err), (e: unknown) => done?.(e as Error))
    })
  }, WHY, 'broker')

  const getIncoming = raw.get
  /** publishes again (same identity) a packet an earlier run stored and may not have published */
  const recoverOne = async (clientId: string, stored: Stored): Promise<boolean> => {
    if ((stored.brokerId === broker.id && (stored.brokerCounter ?? 0) > start) ||
        stored.topic.startsWith(RESERVED_PREFIX) || await isMarked(clientId, stored)) return false
    if (!recheck.allows(stored, await readOwner(raw, clientId, stored), clientId)) {
      // kept under its message id, so that the publisher's PUBREL completes its flow
      await storeIncoming({ id: clientId }, { ...stored, topic: VOID_TOPIC, payload: EMPTY, retain: false })
      return false
    }
    await new Promise<void>((resolve, reject) => {
      pending.set(identityOf(stored), { clientId, messageId: stored.messageId })
      const packet = { ...stored, cmd: 'publish', dup: false, retain: stored.retain === true } as PublishPacket
      brokerInternals(broker).publish(packet, null, (err) => err === undefined || err === null ? resolve() : reject(err))
    })
    return true
  }

  /**
   * A message sent again whose groups' copy was not kept: to those groups alone, its record then removed. If
   * they fail again the connection closes, so that aedes's PUBREC goes nowhere and the device sends it again.
   */
  const resendGroupCopy = async (client: Session, stored: Stored): Promise<void> => {
    const groups = await readPendingGroups(raw, client.id, stored)
    if (groups === undefined || resendToGroups === undefined || stored.brokerCounter === undefined) return
    const unrecord = async (): Promise<void> => { await p.incomingDelPacket({ id: GROUP_PREFIX + client.id }, stored) }
    // the account sending it now must still own the stored message's topic (its grant may be gone since)
    if (!recheck.allows(stored, recheck.ownerOf(client), client.id)) { await unrecord(); return }
    const m = {
      topic: stored.topic, payload: Buffer.from(stored.payload), qos: stored.qos, brokerCounter: stored.brokerCounter,
      properties: stored.properties as GroupMessage['properties'], messageExpiry: groups.messageExpiry
    }
    try {
      await resendToGroups(m, groups.keys)
    } catch (err) {
      if (err instanceof GroupCopyFailed) {
        await writePendingGroups(raw, client.id, stored, { keys: [...err.keys], messageExpiry: groups.messageExpiry }).catch(noop)
      }
      if (isConnection(client)) connOf(client as Client).destroy()
      return
    }
    await unrecord()
  }

  patch(p, 'incomingGetPacket', fn(3), () => (client, packet) => {
    // only a PUBLISH found again needs the check (a PUBREL means PUBREC was sent, so it was published). The
    // others get the store's own answer, with no promise more: every QoS 2 message makes two lookups, its
    // PUBLISH's (a miss, on level known from the index: a rejection fewer) and its PUBREL's
    if (packet.cmd !== 'publish' || isRecord(client.id) || queueRecords?.holds(client.id, packet.messageId ?? 0) === false) {
      return getIncoming(client, packet)
    }
    return (async () => {
      const stored = await getIncoming(client, packet)
      if (!await recoverOne(client.id, stored)) await resendGroupCopy(client, stored)
      return stored
    })()
  }, WHY, 'persistence')

  // The packet before its records: a record left without its packet is harmless (it names the message's
  // queue identity, which no later message has), a packet left without its mark would be published again.
  // On level the three go in one batch (issued together, written whole or not at all); on Redis they are issued
  // together too, and the store runs them in that order in one script call (store/redis-batch.ts), all or none
  // (awaited in turn, they were a round trip each before PUBCOMP); elsewhere in turn.
  patch(p, 'incomingDelPacket', fn(3), (del) => (client, packet) => {
    if (isRecord(client.id)) return del(client, packet)
    if (marks !== undefined) {
      // kept in this process: no record of it was written
      if (marks.dropKept(client, packet.messageId ?? 0)) return STAGED
      return (async () => {
        const own = del(client, packet)
        const records = RECORD_PREFIXES.map(async (prefix) => { await del({ id: prefix + client.id }, packet).catch(noop) })
        await own
        await Promise.all(records)
      })()
    }
    if (queueRecords === undefined) {
      return (async () => {
        await del(client, packet)
        for (const prefix of RECORD_PREFIXES) await del({ id: prefix + client.id }, packet).catch(noop)
      })()
    }
    // level: only the records it holds (none, for a message written with its queue entries: its packet stands
    // for the mark and its owner was never written), each a delete of its own in the same batch. None (every
    // PUBREL of a message queued as it should be): the store's own answer, with no promise more
    const id = packet.messageId ?? 0
    const held = RECORD_PREFIXES.filter((prefix) => queueRecords.holds(prefix + client.id, id))
    if (held.length === 0) return del(client, packet)
    return (async () => {
      const [own] = await Promise.allSettled([del(client, packet), ...held.map(async (prefix) => { await del({ id: prefix + client.id }, packet) })])
      if (own.status === 'rejected') throw own.reason
    })()
  }, WHY, 'persistence')

  if (typeof p.cleanIncoming === 'function') {
    patch(p, 'cleanIncoming', fn(2), (clean) => async (client) => {
      await clean?.(client)
      if (isRecord(client.id)) return
      const records = RECORD_PREFIXES.map((prefix) => ({ id: prefix + client.id }))
      if (queueRecords === undefined) for (const r of records) await clean?.(r)
      else await Promise.all(records.map((r) => clean?.(r)))
    }, WHY, 'persistence')
  }

  return {
    async recover (stored) {
      let n = 0
      for await (const ref of stored) {
        if (isRecord(ref.clientId)) continue
        const pk = await getIncoming({ id: ref.clientId }, { messageId: ref.messageId, cmd: 'recover' }).catch(() => undefined)
        if (pk !== undefined && await recoverOne(ref.clientId, pk)) n++
      }
      return n
    }
  }
}
