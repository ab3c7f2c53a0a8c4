// Hands each group's copy of a message to one member: round robin over the connected members that may
// read it, through the member connection's own aedes deliver functions (so authorizeForward, QoS capping
// and the session's stored queue apply); forwards it to the process of a member connected elsewhere; keeps
// it in the group's queue while no member is connected; and takes back what a departed member left
// unacknowledged, for another member.
import type { Client } from 'aedes'
import type { Logger } from '@warden/common'
import { deliverersOf, storesDeliveries } from '../aedes/accessors.js'
import type { AedesStore } from '../aedes/store.js'
import type { Attachment, Inflight } from './attachment.js'
import type { Forwarded, HandoverResult } from './cluster-link.js'
import type { Group } from './group.js'
import type { GroupQueue } from './group-queue.js'
import { heldEntry, type HeldCopies } from './held-copies.js'
import type { Taken } from './link-answers.js'
import { pendingField, pendingKey, type PendingCopies } from './pending-copies.js'
import type { Handover } from './link-batch.js'
import type { Copy } from './types.js'

export type Outcome = 'delivered' | 'forwarded' | 'queued' | 'dropped'

export interface DispatcherDeps {
  self: string
  groups: ReadonlyMap<string, Group>
  /** the newest connection of each member connected to this process */
  attachments: ReadonlyMap<string, Attachment>
  queue: GroupQueue
  persistence: AedesStore
  maxQueued: number
  canRead: (client: Client, topic: string) => boolean
  /** cluster: sends a copy to the process its member is connected to; undefined on one process */
  forward: () => ((broker: string, f: Forwarded) => Promise<HandoverResult>) | undefined
  /** false for a process found no longer listening on Redis (cluster-link.ts): its members are skipped */
  reachable?: (broker: string) => boolean
  onQueueFull: (copy: Copy, size: number) => void
  /** cluster: clean members' unacknowledged copies, kept in Redis for another process to hand on should this one die */
  held?: HeldCopies | undefined
  /** cluster: which batch a copy in a member's session came in, until its claim stands */
  pending?: PendingCopies | undefined
  /** unacknowledged copies a clean member may have kept in Redis (limits.maxQueuedMessages; 0: no bound) */
  maxHeld?: number | undefined
  /** a clean member reached maxHeld: it is cut off (its copies then go to other members) */
  onOverheld?: ((att: Attachment) => void) | undefined
  logger: Logger
}

export interface Dispatcher {
  /** `exclude`: members not to try (they went away holding it, or may not read it) */
  dispatch (copy: Copy, exclude?: readonly string[], redelivery?: boolean): Promise<Outcome>
  /** a copy forwarded here for one of this process's members */
  receive (f: Forwarded): Promise<Outcome>
  /**
   * Copies handed over in a batch the sender waits on: each is stored in its member's session (nothing to store
   * for a member without one), and written to the member once `gate` says the batch is this process's; dropped,
   * and taken out of the session, if it says the sender took it back. Resolves, per copy, whether it was taken
   * (false: its member is not here, or its session write failed; the sender gives it to another)
   */
  take (items: readonly Forwarded[], gate: Promise<boolean>, batch: string): Promise<Taken>
  /**
   * Hands a departed connection's unacknowledged copies on, taking them out of its session first.
   * `keepStored`: the member's next session is already there and resends those in its session itself.
   */
  redispatch (att: Attachment, keepStored: boolean): Promise<void>
  /** empties the group's queue to its connected members */
  drain (key: string): Promise<void>
  /** a stored copy the member's next session must not get again (it went to another member) */
  isRevoked (clientId: string, packet: { brokerId?: unknown, brokerCounter?: unknown }): boolean
  /** a replayed copy of the member's session that went to another member (pending-copies.ts): not written */
  markRevoked (clientId: string, packet: { brokerId?: unknown, brokerCounter?: unknown }): void
  /** a copy a dead process held for a clean member (held-copies.ts): to another member, else the group's queue */
  redeliver (h: Handover): Promise<Outcome>
  /** the member acknowledged `f` (PUBACK, PUBREC): it holds it, nothing of it is kept for it any more */
  acknowledged (att: Attachment, f: Inflight): void
}

const REVOKED_TTL_MS = 60_000

/**
 * A v5 member gets the message's properties, and its subscription's identifier (a 3.1.1 member's packet is
 * written without them).
 */
const v5Fields = (copy: Copy, subscriptionId?: number): { properties?: object, messageExpiry?: number } => ({
  ...(copy.properties !== undefined || subscriptionId !== undefined
    ? { properties: { ...copy.properties, ...(subscriptionId !== undefined ? { subscriptionIdentifier: subscriptionId } : {}) } }
    : {}),
  ...(copy.messageExpiry !== undefined ? { messageExpiry: copy.messageExpiry } : {})
})
const DRAIN_BATCH = 64

export function createDispatcher (deps: DispatcherDeps): Dispatcher {
  const { self, groups, attachments, queue, maxQueued, canRead, forward, logger, held } = deps
  const store = deps.persistence
  /** `${clientId} ${brokerId}:${counter}` → when */
  const revoked = new Map<string, number>()
  const draining = new Set<string>()
  const mark = (clientId: string, brokerId: unknown, counter: unknown): string => `${clientId}\u0000${String(brokerId)}:${String(counter)}`

  const localFor = (id: string, copy: Copy): Attachment | undefined => {
    const att = attachments.get(id)
    return att !== undefined && !att.closed && att.groups.has(copy.key) && canRead(att.client, copy.topic) ? att : undefined
  }

  /** `takenBack`: a copy another process did not take in time; kept in the group's queue if no other member can have it */
  async function dispatch (copy: Copy, exclude: readonly string[] = [], redelivery = false, takenBack = false): Promise<Outcome> {
    const g = groups.get(copy.key)
    if (g === undefined) return 'dropped'
    let unreadable = false
    // members connected to a process killed outright, as far as the cluster knows yet: treated as for a copy taken back
    let unreachable = false
    const chosen = g.pick((id, rec) => {
      if (rec.broker === null || exclude.includes(id)) return false
      if (rec.broker !== self) {
        if (deps.reachable?.(rec.broker) === false) { unreachable = true; return false }
        return forward() !== undefined
      }
      if (localFor(id, copy) !== undefined) return true
      unreadable ||= attachments.get(id)?.closed === false
      return false
    })
    if (chosen === undefined) return await keep(g, copy, unreadable, takenBack || unreachable)
    const broker = g.members.get(chosen)?.broker
    if (broker === self) return await deliverLocal(g, localFor(chosen, copy) as Attachment, copy, redelivery)
    let result: HandoverResult | undefined
    try {
      result = await forward()?.(broker as string, { copy, clientId: chosen, exclude, redelivery })
    } catch (err) {
      logger.error({ err, group: copy.key }, 'cannot forward a group message to its member\'s process')
      return await dispatch(copy, [...exclude, chosen], redelivery, takenBack)
    }
    if (result === 'taken' || result === undefined) return 'forwarded'
    if (result === 'refused') return await dispatch(copy, [...exclude, chosen], redelivery, takenBack)
    // that process no longer listens on Redis (killed): nothing was sent; its members are skipped from now on
    if (result === 'gone') return await dispatch(copy, [...exclude, chosen], redelivery, true)
    // that process never answered: none of its members gets it; with no other member, the group's queue keeps it
    // whatever its members' sessions (they are connected, as far as the cluster knows, to a process that may come
    // back): its publisher has been waiting for it to be safe, and is acknowledged once it is
    logger.warn({ group: copy.key, broker }, 'a consumer-group copy handed over to another process was not taken in time: taken back')
    const there = [...g.members].filter(([, rec]) => rec.broker === broker).map(([id]) => id)
    return await dispatch(copy, [...exclude, chosen, ...there], redelivery, true)
  }

  async function keep (g: Group, copy: Copy, unreadable: boolean, takenBack = false): Promise<Outcome> {
    // a connected member that may not read the topic is no reason to keep it for later
    if (!unreadable && copy.qos > 0 && (g.keepsMessages || takenBack) && maxQueued > 0) {
      if (await queue.push(copy, maxQueued)) {
        g.counts.queued++
        return 'queued'
      }
      deps.onQueueFull(copy, maxQueued)
    }
    g.counts.dropped++
    return 'dropped'
  }

  /**
   * A copy handed over in a batch its sender waits on (take): in the member's session now, written once `gate`
   * says the batch is this process's, taken out of the session if not. Resolves once stored: true, taken.
   */
  async function deliverGated (
    g: Group, att: Attachment, copy: Copy, redelivery: boolean, gate: Promise<boolean>, batch: string, taken: Taken
  ): Promise<boolean> {
    const qos = Math.min(copy.qos, att.groups.get(copy.key) ?? 0) as 0 | 1 | 2
    const base = {
      cmd: 'publish', topic: copy.topic, payload: copy.payload, retain: false, dup: false, brokerId: copy.brokerId, brokerCounter: copy.brokerCounter,
      ...v5Fields(copy, att.subscriptionIds.get(copy.key))
    }
    const client = deliverersOf(att.client)
    const messageId = qos === 0 ? 0 : att.nextMessageId()
    const f: Inflight = { copy, qos, messageId, stored: false, redelivery, gate }
    if (qos > 0) att.inflight.set(messageId, f)
    const stores = qos > 0 && storesDeliveries(att.client)
    // noted before it is in the session (one MULTI for the batch's copies), removed by the claim if it stands
    const noted = stores && deps.pending !== undefined ? deps.pending.add(att.clientId, copy, batch) : undefined
    // awaited only once the member's earlier writes are done: until then a failure must not be an unhandled
    // rejection (which ends the process); the chain below still sees it
    noted?.catch(() => {})
    if (noted !== undefined) taken.pending.push([pendingKey(att.clientId), pendingField(copy.brokerId, copy.brokerCounter)])
    const stored = att.chain.then(async () => {
      await noted
      if (!stores || att.closed || att.inflight.get(messageId) !== f) return
      await store.outgoingEnqueueCombi([{ clientId: att.clientId, topic: copy.topic, qos, numbered: true }], { ...base, qos })
      f.stored = true
    })
    att.chain = stored.catch(() => {})
    try {
      await stored
    } catch (err) {
      logger.error({ err, clientId: att.clientId }, 'cannot queue a group message in its member\'s session')
      if (att.inflight.get(messageId) === f) {
        att.inflight.delete(messageId)
        att.returnMessageId(messageId)
      }
      return false
    }
    // a clean member's copy is kept in Redis instead, by the batch's claim (only if it stands)
    if (qos > 0 && held !== undefined && !att.persistent) {
      counted(att, f, stores)
      heldEntry(taken.held, att.clientId, copy, stores)
    }
    // written in the order taken, each once its batch is decided
    const written = Promise.all([att.writes, gate]).then(async ([, won]) => {
      if (!won) {
        // the sender took it back and gave it to another member: not this one's, now or in its next session
        const mine = att.inflight.get(messageId) === f
        if (mine) att.inflight.delete(messageId)
        unhold(att, f)
        if (f.stored) deps.pending?.forget(att.clientId, f.copy)
        if (f.stored) await revoke(att.clientId, f)
        // once out of the member's session: its id is free for another message
        if (mine && qos > 0) att.returnMessageId(messageId)
        return
      }
      g.countDelivery(att.clientId, redelivery)
      if (att.closed || (qos > 0 && att.inflight.get(messageId) !== f)) return
      if (qos === 0) await new Promise<void>((resolve) => client.atQos0({ ...base, qos }, resolve))
      else await new Promise<void>((resolve) => client.atQos({ ...base, qos, messageId }, resolve))
    })
    att.writes = written.catch((err: unknown) => { logger.error({ err, clientId: att.clientId }, 'cannot write a group message to its member') })
    return true
  }

  async function deliverLocal (g: Group, att: Attachment, copy: Copy, redelivery: boolean): Promise<Outcome> {
    const qos = Math.min(copy.qos, att.groups.get(copy.key) ?? 0) as 0 | 1 | 2
    g.countDelivery(att.clientId, redelivery)
    const base = {
      cmd: 'publish', topic: copy.topic, payload: copy.payload, retain: false, dup: false, brokerId: copy.brokerId, brokerCounter: copy.brokerCounter,
      ...v5Fields(copy, att.subscriptionIds.get(copy.key))
    }
    const client = deliverersOf(att.client)
    if (qos === 0) {
      await new Promise<void>((resolve) => client.atQos0({ ...base, qos }, resolve))
      return 'delivered'
    }
    // the packet id is chosen here, so that the member's PUBACK/PUBREC can be told apart
    const messageId = att.nextMessageId()
    const f: Inflight = { copy, qos, messageId, stored: false, redelivery }
    att.inflight.set(messageId, f)
    const write = (): Promise<void> => new Promise((resolve) => client.atQos({ ...base, qos, messageId }, resolve))
    // a member whose session ends with its connection (clean, or MQTT 5 Session Expiry 0): kept in Redis too, entered
    // before the write, so that its removal at the member's acknowledgement reaches Redis after it
    const kept = hold(att, f).catch((err: unknown) => {
      // lost should this process die before the member's acknowledgement
      logger.error({ err, clientId: att.clientId }, 'cannot keep a clean member\'s group message in Redis')
    })
    if (!storesDeliveries(att.client)) {
      await Promise.all([write(), kept])
      return 'delivered'
    }
    // as aedes does for an ordinary message: in the session's queue first (it survives the connection, and
    // the acknowledgement takes it out), then written; one copy after the other for each member. aedes stores
    // the delivery of a session that ends with its connection too, when it resumed one (aedes/resume-queue.ts):
    // it finds the copy queued, and the member leaves its groups when it closes
    const step = att.chain.then(async () => {
      if (att.closed || att.inflight.get(messageId) !== f) return
      await store.outgoingEnqueueCombi([{ clientId: att.clientId, topic: copy.topic, qos, numbered: true }], { ...base, qos })
      f.stored = true
      if (!att.closed) await write()
    })
    att.chain = step.catch(() => {})
    try {
      await Promise.all([step, kept])
    } catch (err) {
      logger.error({ err, clientId: att.clientId }, 'cannot queue a group message in its member\'s session')
      // never written to it: another member, or the group's queue, gets it now
      if (!f.stored && att.inflight.get(messageId) === f) {
        att.inflight.delete(messageId)
        att.returnMessageId(messageId)
        const outcome = await dispatch(copy, [att.clientId], redelivery)
        unhold(att, f)
        return outcome
      }
    }
    return 'delivered'
  }

  /** a clean member's unacknowledged copy, kept in Redis until the member acknowledges it or it is handed on */
  async function hold (att: Attachment, f: Inflight): Promise<void> {
    if (held === undefined || att.persistent) return
    const stored = storesDeliveries(att.client)
    counted(att, f, stored)
    await held.add(att.clientId, f.copy, stored)
  }
  /**
   * One more of the member's copies kept in Redis. A member that never acknowledges would grow its process's hash
   * with its share of every group message for as long as it stays connected: at maxHeld it is cut off, as a
   * persistent session is at maxQueuedMessages unacknowledged, and its copies go to other members
   */
  function counted (att: Attachment, f: Inflight, stored: boolean): void {
    f.held = true
    if (stored) f.heldStored = true
    att.held++
    const max = deps.maxHeld ?? 0
    if (max > 0 && att.held === max && !att.closed) deps.onOverheld?.(att)
  }
  function unhold (att: Attachment, f: Inflight): void {
    if (f.held !== true) return
    f.held = false
    att.held--
    held?.remove(att.clientId, f.copy, f.qos, f.heldStored === true)
  }

  async function revoke (clientId: string, f: Inflight): Promise<void> {
    const now = Date.now()
    for (const [k, at] of revoked) { if (now - at < REVOKED_TTL_MS) break; revoked.delete(k) }
    revoked.set(mark(clientId, f.copy.brokerId, f.copy.brokerCounter), now)
    const session = { id: clientId }
    const packet = {
      cmd: 'publish', topic: f.copy.topic, payload: f.copy.payload, qos: f.qos, retain: false, dup: false,
      brokerId: f.copy.brokerId, brokerCounter: f.copy.brokerCounter, messageId: f.messageId, ...v5Fields(f.copy)
    }
    try {
      await store.outgoingUpdate(session, packet)
      await store.outgoingClearMessageId(session, { messageId: f.messageId })
    } catch {
      // already gone from the session (acknowledged meanwhile, or the session was cleaned)
    }
  }

  return {
    dispatch,
    async receive (f) {
      const att = localFor(f.clientId, f.copy)
      const g = groups.get(f.copy.key)
      if (att === undefined || g === undefined) return await dispatch(f.copy, [...f.exclude, f.clientId], f.redelivery)
      return await deliverLocal(g, att, f.copy, f.redelivery)
    },
    async take (items, gate, batch) {
      const out: Taken = { taken: [], held: new Map(), pending: [] }
      out.taken = await Promise.all(items.map(async (f) => {
        const att = localFor(f.clientId, f.copy)
        const g = groups.get(f.copy.key)
        if (att === undefined || g === undefined) return false
        return await deliverGated(g, att, f.copy, f.redelivery, gate, batch, out)
      }))
      return out
    },
    async redispatch (att, keepStored) {
      const items = [...att.inflight.values()]
      // cleared first: a store step still queued for one of them sees it gone and leaves it out
      att.inflight.clear()
      await att.chain
      for (const f of items) {
        // handed over in a batch not yet decided: this process's only if its claim stands (else its sender has it)
        if (f.gate !== undefined && !await f.gate) continue
        if (f.stored && keepStored) continue
        if (f.stored) await revoke(att.clientId, f)
        await dispatch(f.copy, [att.clientId], true)
        // handed on: out of Redis only now (this process dying meanwhile, another process hands it on: at least once)
        unhold(att, f)
      }
    },
    async drain (key) {
      if (draining.has(key)) return
      draining.add(key)
      try {
        for (;;) {
          if (groups.get(key)?.connected !== true) return
          const batch = await queue.take(key, DRAIN_BATCH)
          if (batch.length === 0) return
          let requeued = false
          for (const copy of batch) requeued = (await dispatch(copy)) === 'queued' || requeued
          if (requeued) return
        }
      } finally {
        draining.delete(key)
      }
    },
    isRevoked (clientId, packet) {
      return revoked.has(mark(clientId, packet.brokerId, packet.brokerCounter))
    },
    markRevoked (clientId, packet) {
      revoked.set(mark(clientId, packet.brokerId, packet.brokerCounter), Date.now())
    },
    async redeliver (h) {
      return await dispatch(h.copy, h.exclude, true, true)
    },
    acknowledged: unhold
  }
}
