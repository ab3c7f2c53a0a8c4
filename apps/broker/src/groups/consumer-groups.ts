// The groups of this broker process: who joined through which connection, the message-bus listener of
// each group's filter, what happens when a member's connection ends, and the cluster's view kept in step.
import type { Aedes, Client } from 'aedes'
import type { Logger } from '@warden/common'
import { busOf, connOf } from '../aedes/accessors.js'
import type { AedesStore } from '../aedes/store.js'
import { Attachment } from './attachment.js'
import type { ClusterLink, Forwarded } from './cluster-link.js'
import { createDispatcher, type Dispatcher } from './dispatcher.js'
import { Group } from './group.js'
import type { GroupQueue } from './group-queue.js'
import type { HeldCopies } from './held-copies.js'
import { REAPED_BATCH, type PendingCopies } from './pending-copies.js'
import type { Taken } from './link-answers.js'
import { describeGroups, type GroupStats } from './group-stats.js'
import type { MemberStore } from './member-store.js'
import type { LocalListeners } from '../store/redis-bus.js'
import { copyBrokerId, type ShareFilter } from '../policy/share-filter.js'
import { isTakenOver } from '../sessions/takeover.js'
import type { Copy, MemberRecord, QoS } from './types.js'
import { carriedProperties, type CopyProperties } from './copy-properties.js'
import { failGroupCopy, GroupCopyFailed } from '../delivery/emit-failure.js'

type Done = () => void
interface BusPacket {
  topic: string, payload: Buffer | string, qos: QoS, brokerId?: string, brokerCounter?: number, properties?: CopyProperties, messageExpiry?: number
}
type Listener = (packet: BusPacket, done: Done) => void

export interface ConsumerGroupsDeps {
  broker: Aedes
  /** cluster mode: listening to this process's own messages without a Redis subscription (see groupFor) */
  localBus?: LocalListeners | undefined
  persistence: AedesStore
  store: MemberStore
  queue: GroupQueue
  maxQueued: number
  canRead: (client: Client, topic: string) => boolean
  onQueueFull: (copy: Copy, size: number) => void
  /** cluster: clean members' unacknowledged copies, in Redis (held-copies.ts) */
  held?: HeldCopies | undefined
  /** cluster: which batch a copy in a member's session came in (pending-copies.ts) */
  pending?: PendingCopies | undefined
  /** cluster: a clean member's unacknowledged copies kept in Redis at most (limits.maxQueuedMessages; 0: no bound) */
  maxHeld?: number | undefined
  /** a clean member left maxHeld copies unacknowledged: cut off (its copies go to other members when it has gone) */
  onOverheld?: ((client: Client, held: number) => void) | undefined
  logger: Logger
}

export interface ConsumerGroups {
  readonly dispatcher: Dispatcher
  /** a connection joins (SUBSCRIBE, or its stored session restored) */
  /** `subscriptionId`: MQTT 5 Subscription Identifier, sent back on what the group gives this connection */
  join (client: Client, share: ShareFilter, qos: QoS, subscriptionId?: number): Promise<void>
  /**
   * A QoS 2 message sent again whose copy these groups did not keep: given to them alone (its ordinary
   * subscribers had it). Rejects with GroupCopyFailed naming the groups that failed again
   */
  resend (m: Omit<Copy, 'key' | 'brokerId'>, keys: readonly string[]): Promise<void>
  /** a connection leaves one group (UNSUBSCRIBE) */
  leave (client: Client, key: string): Promise<void>
  /** a session is gone (cleaned or expired): it leaves every group */
  forget (clientId: string, keys?: readonly string[]): Promise<void>
  /** the connection of `client`, if it is a member here */
  attachmentOf (client: Client): Attachment | undefined
  /** a member's connection is ready (its stored queue sent): its groups' queues are emptied to it */
  ready (client: Client): void
  /** cluster: re-reads a group's members */
  sync (key: string): Promise<void>
  receive (f: Forwarded): void
  /** copies handed over in a batch whose sender waits on its answer (dispatcher.ts take) */
  take (items: readonly Forwarded[], gate: Promise<boolean>, batch: string): Promise<Taken>
  setLink (link: ClusterLink): void
  /** cluster, every 10 s (presence-sweep.ts): reaps the processes found gone; with none, empties the queues of groups
   * with members connected */
  sweep (gone: readonly string[]): Promise<void>
  /** cluster: the other processes members are connected to, as this process knows */
  memberBrokers (): Set<string>
  /**
   * cluster: `broker` is dead (dead-watch.ts): its members are marked offline (persistent ones keep their
   * sessions, resent when they reconnect), and the copies it held for clean members go to other members
   */
  reap (broker: string): Promise<void>
  /**
   * cluster, as this process starts (no client connected yet): members recorded as connected to its id, and the
   * copies held for clean members under it, are an earlier process's under the same id, killed and restarted
   * before another found it dead: marked offline, and handed on, as `reap` does
   */
  recover (): Promise<void>
  /** cluster: another process found this one dead (its Redis connection lost a while): its members are recorded again */
  reassert (): Promise<void>
  stats (): Promise<GroupStats[]>
  /** shutting down: persistent members keep their unacknowledged messages in their own sessions */
  stop (): void
  close (): Promise<void>
}

export async function createConsumerGroups (deps: ConsumerGroupsDeps): Promise<ConsumerGroups> {
  const { broker, store, queue, logger } = deps
  const self = broker.id
  const bus = busOf(broker)
  const groups = new Map<string, Group>()
  const attachments = new Map<string, Attachment>()
  const byClient = new WeakMap<Client, Attachment>()
  const filters = new Map<string, { keys: Set<string>, listener: Listener, on: Pick<LocalListeners, 'removeListener'>, ready: Promise<void> }>()
  const pending = new Set<Promise<unknown>>()
  let link: ClusterLink | undefined
  let stopping = false
  let closed = false

  const track = (p: Promise<unknown>): void => {
    const t = p.catch((err: unknown) => { logger.error({ err }, 'consumer group work failed') }).finally(() => pending.delete(t))
    pending.add(t)
  }

  const dispatcher = createDispatcher({
    self,
    groups,
    attachments,
    queue,
    persistence: deps.persistence,
    maxQueued: deps.maxQueued,
    canRead: deps.canRead,
    forward: () => link?.forward,
    reachable: (broker) => link?.reachable(broker) ?? true,
    onQueueFull: deps.onQueueFull,
    held: deps.held,
    pending: deps.pending,
    maxHeld: deps.maxHeld,
    onOverheld: (att) => deps.onOverheld?.(att.client, att.held),
    logger
  })

  const copyIds = new Map<string, string>()
  const copyIdOf = (key: string): string => {
    let id = copyIds.get(key)
    if (id === undefined) { id = copyBrokerId(self, key); copyIds.set(key, id) }
    return id
  }

  function onMessage (filter: string, keys: ReadonlySet<string>, packet: BusPacket, done: Done): void {
    // the process that published a message dispatches it, once, for the whole cluster
    if (closed || packet.brokerId !== self || packet.brokerCounter === undefined) { done(); return }
    const topic = packet.topic
    // MQTT-4.7.2-1: a filter starting with a wildcard does not match '$' topics
    if (topic.charCodeAt(0) === 36 && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) { done(); return }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    const counter = packet.brokerCounter
    const v5 = { properties: carriedProperties(packet.properties), messageExpiry: packet.messageExpiry }
    dispatchTo([...keys], { topic, payload, qos: packet.qos, brokerCounter: counter, ...v5 })
      .catch((err: unknown) => {
        logger.error({ err, topic }, 'cannot dispatch to consumer groups')
        // a group's copy not kept (its queue, or the replicas behind it, failed): the publisher is not
        // acknowledged and sends it again (a QoS 2 one is then given to these groups alone: qos2-group-copy.ts).
        // QoS 0 has no acknowledgement to withhold
        if (packet.qos > 0 && err instanceof GroupCopyFailed) failGroupCopy(packet, [...err.keys], packet.messageExpiry, err.cause)
      })
      .finally(done)
  }

  /** each group's copy; the groups whose copy was not kept fail it together */
  async function dispatchTo (keys: readonly string[], m: Omit<Copy, 'key' | 'brokerId'>): Promise<void> {
    const results = await Promise.allSettled(keys.map(async (key) => await dispatcher.dispatch({ ...m, key, brokerId: copyIdOf(key) })))
    const failed = keys.filter((_, i) => results[i]?.status === 'rejected')
    if (failed.length === 0) return
    const first = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    throw new GroupCopyFailed(new Set(failed), m.messageExpiry, first.reason)
  }

  /** the group of `share`, created with its filter's bus listener when new */
  const shareOf = (key: string): ShareFilter => {
    const slash = key.indexOf('/')
    return { group: key.slice(0, slash), filter: key.slice(slash + 1), key }
  }

  /** the members recorded as connected to `broker`, marked offline; whether any was (here, first) */
  async function releaseAll (key: string, g: Group, broker: string): Promise<boolean> {
    let changed = false
    for (const [id, rec] of [...g.members]) {
      if (rec.broker !== broker) continue
      const next: MemberRecord | null = rec.persistent ? { ...rec, broker: null } : null
      if (next === null) g.delete(id); else g.set(id, next)
      if (await store.release(key, id, broker, next)) {
        changed = true
        logger.info({ group: key, clientId: id, broker }, 'consumer group member of a vanished broker process marked offline')
      }
    }
    if (changed) await announce(key)
    return changed
  }

  function memberBrokers (): Set<string> {
    const out = new Set<string>()
    for (const g of groups.values()) for (const rec of g.members.values()) if (rec.broker !== null && rec.broker !== self) out.add(rec.broker)
    return out
  }

  async function reap (broker: string, recovering = false): Promise<void> {
    for (const [key, g] of [...groups]) await releaseAll(key, g, broker)
    // after the members: none of the dead process's gets them again
    const copies = await deps.held?.takeAll(broker, recovering ? null : self) ?? []
    if (copies.length > 0) logger.warn({ broker, copies: copies.length }, 'copies a dead broker process held for clean consumer-group members handed on')
    // those also in their member's session (MQTT 5 Session Expiry 0, left in the store by the dead process): noted
    // under a batch no receiver claims, so that a replay of that session, on any process, leaves them out
    // (shared-subscriptions.ts takenBack) before another member has them
    await Promise.all(copies.filter((h) => h.stored).map(async (h) => await deps.pending?.add(h.clientId, h.copy, `${REAPED_BATCH}${broker}`)))
    for (const h of copies) track(dispatcher.redeliver(h))
    // copies kept while their members' process did not answer (dispatcher.ts): the queue is otherwise emptied
    // only when a member connects
    for (const [key, g] of groups) if (g.connected) track(dispatcher.drain(key))
  }

  function groupFor (share: ShareFilter): Group {
    let g = groups.get(share.key)
    if (g === undefined) {
      g = new Group(share)
      groups.set(share.key, g)
    }
    let f = filters.get(share.filter)
    if (f === undefined) {
      const keys = new Set<string>()
      const listener: Listener = (packet, done) => onMessage(share.filter, keys, packet, done)
      // only the messages published here are dispatched here (onMessage): in a cluster, the other processes'
      // are not read from Redis for the group. A filter that can match '$' topics still listens through Redis,
      // which such messages always go round (store/redis-bus.ts)
      const on = share.filter.charCodeAt(0) !== 36 && deps.localBus !== undefined ? deps.localBus : bus
      const ready = new Promise<void>((resolve) => on.on(share.filter, listener, resolve))
      f = { keys, listener, on, ready }
      filters.set(share.filter, f)
    }
    f.keys.add(share.key)
    return g
  }

  function dropIfEmpty (key: string): void {
    const g = groups.get(key)
    if (g === undefined || g.members.size > 0) return
    groups.delete(key)
    copyIds.delete(key)
    const f = filters.get(g.share.filter)
    f?.keys.delete(key)
    if (f !== undefined && f.keys.size === 0) {
      filters.delete(g.share.filter)
      f.on.removeListener(g.share.filter, f.listener)
    }
    track(queue.clear(key))
  }

  const announce = async (key: string, wait = false): Promise<void> => { await link?.announce(key, wait) }

  function attach (client: Client): Attachment {
    let att = byClient.get(client)
    if (att === undefined) {
      const a = new Attachment(client, client.id)
      a.onAcknowledged = (f) => dispatcher.acknowledged(a, f)
      att = a
      byClient.set(client, a)
      const conn = connOf(client)
      if (conn.destroyed === true) setImmediate(() => onClose(a))
      else conn.once('close', () => onClose(a))
    }
    // a connection already gone (its SUBSCRIBE handled after it closed) joins nothing
    if (!att.closed) attachments.set(client.id, att)
    return att
  }

  /** the member's record once this connection is gone; what the store says about it */
  async function release (key: string, att: Attachment): Promise<boolean> {
    const g = groups.get(key)
    const rec = g?.members.get(att.clientId)
    const qos = att.groups.get(key) ?? rec?.qos ?? 0
    const next: MemberRecord | null = att.persistent ? { qos, persistent: true, broker: null } : null
    if (g !== undefined && rec?.broker === self) {
      if (next === null) g.delete(att.clientId); else g.set(att.clientId, next)
    }
    const released = await store.release(key, att.clientId, self, next)
    if (!released && store.shared) {
      // recorded elsewhere: a newer connection of this client holds it on another process
      const now = (await store.loadGroup(key)).get(att.clientId)
      if (now?.broker !== null && now?.broker !== undefined && now.broker !== self) return true
    }
    await announce(key)
    dropIfEmpty(key)
    return false
  }

  function onClose (att: Attachment): void {
    if (att.closed) return
    att.closed = true
    if (attachments.get(att.clientId) === att) attachments.delete(att.clientId)
    if (closed) return
    const successor = attachments.get(att.clientId)
    track((async () => {
      let elsewhere = false
      for (const key of att.groups.keys()) {
        if (successor?.groups.has(key) === true) continue
        elsewhere = await release(key, att) || elsewhere
      }
      // a persistent member's next session gets those in its session from there: on shutdown, or when it
      // is already connected again (here, or on another process, which may be about to: a takeover)
      const resumed = att.persistent && (stopping || elsewhere || successor?.persistent === true || isTakenOver(att.client))
      if (att.inflight.size > 0) await dispatcher.redispatch(att, resumed)
    })())
  }

  return {
    dispatcher,
    attachmentOf: (client) => byClient.get(client),

    async join (client, share, qos, subscriptionId) {
      const att = attach(client)
      if (att.closed) return
      att.groups.set(share.key, qos)
      if (subscriptionId !== undefined) att.subscriptionIds.set(share.key, subscriptionId); else att.subscriptionIds.delete(share.key)
      const rec: MemberRecord = { qos, persistent: att.persistent, broker: self }
      const g = groupFor(share)
      g.set(client.id, rec)
      await Promise.all([store.put(share.key, client.id, rec), filters.get(share.filter)?.ready])
      await announce(share.key, true)
    },

    async resend (m, keys) {
      if (closed) throw new GroupCopyFailed(new Set(keys), m.messageExpiry, new Error('consumer groups closed'))
      // as stored with the incoming packet: what a receiver gets of them is chosen here, as for a new message
      await dispatchTo(keys, { ...m, properties: carriedProperties(m.properties) })
    },

    async leave (client, key) {
      const att = byClient.get(client)
      if (att === undefined || !att.groups.delete(key)) return
      att.subscriptionIds.delete(key)
      const g = groups.get(key)
      if (g?.members.get(att.clientId)?.broker === self) g.delete(att.clientId)
      await store.release(key, att.clientId, self, null)
      await announce(key)
      dropIfEmpty(key)
    },

    async forget (clientId, keys) {
      const att = attachments.get(clientId)
      for (const [key, g] of groups) {
        if (!g.members.has(clientId) || (keys !== undefined && !keys.includes(key))) continue
        // a member connected here right now (a restored session) stays
        if (att !== undefined && !att.closed && att.groups.has(key)) continue
        g.delete(clientId)
        await store.remove(key, clientId)
        await announce(key)
        dropIfEmpty(key)
      }
    },

    ready (client) {
      const att = byClient.get(client)
      if (att === undefined) return
      for (const key of att.groups.keys()) track(dispatcher.drain(key))
    },

    async sync (key) {
      const members = await store.loadGroup(key)
      let g = groups.get(key)
      if (g === undefined && members.size === 0) return
      g ??= groupFor(shareOf(key))
      g.replace(members)
      dropIfEmpty(key)
      await filters.get(g.share.filter)?.ready
    },

    receive (f) { track(dispatcher.receive(f)) },
    async take (items, gate, batch) {
      const taken = dispatcher.take(items, gate, batch)
      track(taken)
      return await taken
    },
    setLink (l) { link = l },

    async sweep (gone) {
      for (const b of gone) await reap(b)
      if (gone.length === 0) for (const [key, g] of groups) if (g.connected) track(dispatcher.drain(key))
    },

    memberBrokers,

    reap,

    async recover () { await reap(self, true) },

    async reassert () {
      for (const att of [...attachments.values()]) {
        if (att.closed) continue
        for (const [key, qos] of att.groups) {
          const rec: MemberRecord = { qos, persistent: att.persistent, broker: self }
          groupFor(shareOf(key)).set(att.clientId, rec)
          await store.put(key, att.clientId, rec)
          await announce(key)
        }
      }
    },

    stats: async () => await describeGroups(groups, attachments, queue),

    stop () { stopping = true },

    async close () {
      stopping = true
      const deadline = Date.now() + 3000
      while (pending.size > 0 && Date.now() < deadline) {
        await Promise.race([Promise.allSettled([...pending]), new Promise((resolve) => setTimeout(resolve, deadline - Date.now()).unref())])
      }
      closed = true
      // members still recorded as connected here are offline from now on
      for (const [key, g] of groups) {
        for (const [id, rec] of g.members) {
          if (rec.broker !== self) continue
          await store.release(key, id, self, rec.persistent ? { ...rec, broker: null } : null).catch(() => false)
          await announce(key).catch(() => {})
        }
      }
      if (!broker.closed) for (const [filter, f] of filters) f.on.removeListener(filter, f.listener)
      filters.clear()
    }
  }
}
