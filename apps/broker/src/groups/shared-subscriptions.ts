// Consumer groups (MQTT 5's shared subscriptions), for MQTT 3.1.1 and 5 clients alike: `$share/{group}/{filter}`
// subscriptions, wired into the broker's hooks, store and events. aedes keeps the literal subscription (it
// matches nothing, but persistent sessions store and restore it); Warden delivers each matching message to one
// member of each group.
import type { Aedes, AedesPublishPacket, Client } from 'aedes'
import type { Redis } from 'ioredis'
import { connectRedis, type RedisTarget } from '../store/redis-connect.js'
import type { LocalListeners } from '../store/redis-bus.js'
import { busOf, connackSent, connOf } from '../aedes/accessors.js'
import { fn, patch } from '../aedes/patch.js'
import type { AedesStore, Session, StoredPacket } from '../aedes/store.js'
import type { Logger } from '@warden/common'
import type { DenyReason } from '../policy/decision.js'
import type { Audit } from '../audit/audit.js'
import type { ClientPolicy } from '../hooks/client-policy.js'
import type { HookStage } from '../hooks/pipeline.js'
import { RESERVED_PREFIX } from '../policy/internal-topics.js'
import { createClusterLink, liveChannelOf, PRESENCE_TTL_MS, type ClusterLink } from './cluster-link.js'
import { createDeadWatch, type DeadWatch } from './dead-watch.js'
import { createPresenceSweep, STOPPED_MAX_MS, type PresenceSweep } from './presence-sweep.js'
import { createHeldCopies, type HeldCopies } from './held-copies.js'
import { createPendingCopies, type PendingCopies } from './pending-copies.js'
import { createHandoverClaims, TAKEN_BACK, type HandoverClaims } from './handover-claim.js'
import { createConsumerGroups, type ConsumerGroups } from './consumer-groups.js'
import type { GroupStats } from './group-stats.js'
import { createRedisQueue, createStoreQueue } from './group-queue.js'
import type { ReplicaFence } from '../store/redis-replicas.js'
import { createLocalMemberStore, createRedisMemberStore, type MemberStore } from './member-store.js'
import { isShareTopic, parseCopyBrokerId, parseShareFilter } from '../policy/share-filter.js'
import type { Copy, QoS } from './types.js'
import { carriedProperties, type CopyProperties } from './copy-properties.js'

export interface SharedSubscriptionsConfig {
  /** QoS 1/2 messages a group keeps while none of its members is connected; 0 keeps none */
  readonly maxQueued: number
  /** cluster: how long a process waits for another to answer that it has the copies handed over to it */
  readonly handoverTimeoutMs: number
}

export interface AttachOptions {
  broker: Aedes
  persistence: AedesStore
  /** cluster mode: membership, queues and the choice of member are shared through this Redis */
  redis?: RedisTarget | undefined
  /** one process: where persistent members are remembered across restarts (none: memory only) */
  membersFile?: string | undefined
  /** cluster mode: listeners of this process's own messages, with no Redis subscription (store/redis-bus.ts) */
  localBus?: LocalListeners | undefined
  /** redis.waitForReplicas: a copy kept in a group's queue waits for the replicas, as the store's writes */
  replicas?: ReplicaFence | undefined
}

export interface SharedSubscriptions {
  /** `$share/` subscriptions and group replays, in the hook pipeline after the limits, before the rules */
  readonly stage: HookStage
  /** wraps the store so that replays, cleaned sessions and unsubscribes reach the groups (broker/patches.ts) */
  patchStore (persistence: AedesStore): void
  attach (opts: AttachOptions): Promise<void>
  /** a QoS 2 message sent again, to the groups that did not keep their copy (consumer-groups.ts resend) */
  resendToGroups (m: Omit<Copy, 'key' | 'brokerId'>, keys: readonly string[]): Promise<void>
  /** groups, members, per-member delivery counts (counted by this process) */
  stats (): Promise<GroupStats[]>
  /** shutdown begins: persistent members keep their unacknowledged messages for their next session */
  stop (): void
  close (): Promise<void>
}

export interface SharedDeps {
  audit: Audit
  logger: Logger
  /** a connected client's rules (its read grants) */
  policyOf (client: Client): ClientPolicy | undefined
  /** limits.maxQueuedMessages: a clean member's unacknowledged copies kept in Redis at most (0: no bound) */
  maxHeld?: number | undefined
}

/** a process not heard of for PRESENCE_TTL_MS that still listens on Redis (presence-sweep.ts) */
const SILENT_KEPT = `a consumer group's process silent for ${PRESENCE_TTL_MS / 1000} s still listens on Redis (stopped, or a long pause): its members are kept`

export function createSharedSubscriptions (config: SharedSubscriptionsConfig, { audit, logger, policyOf, maxHeld }: SharedDeps): SharedSubscriptions {
  const log = logger.child({ component: 'consumer-groups' })
  let groups: ConsumerGroups | undefined
  let link: ClusterLink | undefined
  let store: MemberStore | undefined
  let redis: Redis | undefined
  let sweep: PresenceSweep | undefined
  let watch: DeadWatch | undefined
  let held: HeldCopies | undefined
  let pending: { copies: PendingCopies, claims: HandoverClaims } | undefined
  let closing: Promise<void> | undefined

  const keysOf = (topics: readonly string[]): string[] => topics.flatMap((t) => {
    const p = isShareTopic(t) ? parseShareFilter(t) : undefined
    return p?.ok === true ? [p.share.key] : []
  })

  /** replays of a member's stored queue: copies handed to another member are not sent again; the others
   * are tracked as unacknowledged again, so that they move on if this connection ends too */
  function patchStore (p: AedesStore): void {
    patch(p, 'outgoingUpdate', fn(3), (update) => (client, packet) => {
      const copy = packet.cmd === 'publish' ? parseCopyBrokerId(packet.brokerId) : null
      // not a group copy (every other message): straight through, no promise of its own
      return copy === null ? update(client, packet) : updateCopy(client, packet, copy, update)
    }, 'aedes replays a member\'s stored queue, including copies another member has taken since', 'persistence')
    const updateCopy = async (
      client: Session, packet: StoredPacket, copy: { readonly key: string }, update: (c: Session, pk: StoredPacket) => Promise<unknown>
    ): Promise<unknown> => {
      const att = groups?.attachmentOf(client as Client)
      if (att !== undefined && groups !== undefined && packet.messageId !== undefined) {
        const own = att.inflight.get(packet.messageId)
        if (own === undefined || own.copy.brokerId !== packet.brokerId || own.copy.brokerCounter !== Number(packet.brokerCounter)) {
          if (groups.dispatcher.isRevoked(client.id, packet)) return
          if (pending !== undefined && await takenBack(client, packet, update)) return
          att.inflight.set(packet.messageId, {
            copy: {
              key: copy.key, topic: packet.topic, payload: packet.payload, qos: packet.qos,
              brokerId: packet.brokerId as string, brokerCounter: Number(packet.brokerCounter),
              properties: carriedProperties(packet.properties as CopyProperties | undefined),
              messageExpiry: typeof packet.messageExpiry === 'number' ? packet.messageExpiry : undefined
            },
            qos: packet.qos,
            messageId: packet.messageId,
            stored: true,
            redelivery: false
          })
        }
      }
      return await update(client, packet)
    }
    /**
     * A replayed copy noted as stored by a process that had not claimed its batch yet (pending-copies.ts): the
     * batch is claimed for its sender here; unless its receiver had claimed it, the copy went to another member and
     * is taken out of the session, not written
     */
    const takenBack = async (client: Session, packet: StoredPacket, update: (c: Session, pk: StoredPacket) => Promise<unknown>): Promise<boolean> => {
      if (pending === undefined || groups === undefined) return false
      const batch = await pending.copies.batchOf(client.id, packet)
      if (batch === null) return false
      const theirs = await pending.claims.claim(batch, TAKEN_BACK)
      pending.copies.forget(client.id, packet)
      if (theirs !== null && theirs !== TAKEN_BACK) return false
      groups.dispatcher.markRevoked(client.id, packet)
      await update(client, packet)
      await p.outgoingClearMessageId(client, { messageId: packet.messageId })
      return true
    }
    // a session cleaned (clean=true connect) or expired leaves its groups
    patch(p, 'cleanSubscriptions', fn(2), (clean) => async (client) => {
      const r = await clean(client)
      await groups?.forget(client.id)
      return r
    }, 'aedes stores $share/ filters as plain subscriptions: a cleaned session must leave its groups', 'persistence')
    patch(p, 'removeSubscriptions', fn(3), (remove) => async (client, topics) => {
      const r = await remove(client, topics)
      const keys = keysOf(topics)
      if (keys.length > 0) await groups?.forget(client.id, keys)
      return r
    }, 'aedes stores $share/ filters as plain subscriptions: removing one must leave its group', 'persistence')
  }

  async function close (): Promise<void> {
    closing ??= (async () => {
      sweep?.close()
      watch?.close()
      await groups?.close()
      await held?.close()
      await link?.close()
      await store?.close()
      redis?.disconnect()
    })()
    return await closing
  }

  return {
    patchStore,
    stage: {
      name: 'consumer-groups',
      authorizeSubscribe (client, sub, cb, next) {
        if (!isShareTopic(sub.topic)) { next(client, sub, cb); return }
        const policy = policyOf(client)
        if (policy === undefined) { cb(new Error('client is not authenticated')); return }
        const deny = (reason: DenyReason, detail?: string): void => {
          audit.record({
            kind: 'subscribe', reason, username: policy.identity.username, clientId: client.id, topic: sub.topic, qos: sub.qos,
            ...(detail !== undefined ? { detail } : {})
          })
          cb(null, null)
        }
        const parsed = parseShareFilter(sub.topic)
        if (!parsed.ok) { deny('bad-shared-filter', parsed.reason); return }
        // read rights are those of the plain filter
        const filter = parsed.share.filter
        if (filter.startsWith(RESERVED_PREFIX)) { deny('reserved-topic'); return }
        if (!policy.reader.canSubscribe(filter)) { deny('not-granted'); return }
        if (groups === undefined) { cb(null, null); return }
        const subscriptionId = (sub as { subscriptionIdentifier?: number }).subscriptionIdentifier
        groups.join(client, parsed.share, sub.qos as QoS, subscriptionId).then(() => cb(null, sub), (err: unknown) => {
          log.error({ err, clientId: client.id, topic: sub.topic }, 'cannot join the consumer group')
          cb(null, null)
        })
      },
      authorizeForward (client, packet, next) {
        // a replay of a stored copy that went to another member after this member's connection ended
        const replay = (packet as AedesPublishPacket & { writeCallback?: unknown }).writeCallback !== undefined
        if (replay && groups?.dispatcher.isRevoked(client.id, packet) === true) return null
        return next(client, packet)
      }
    },

    async attach ({ broker, persistence, redis: target, membersFile, localBus, replicas }) {
      if (target !== undefined) redis = connectRedis(target)
      store = redis !== undefined ? createRedisMemberStore(redis) : await createLocalMemberStore(membersFile)
      held = redis !== undefined ? createHeldCopies(redis, broker.id) : undefined
      pending = redis !== undefined ? { copies: createPendingCopies(redis), claims: createHandoverClaims(redis) } : undefined
      groups = await createConsumerGroups({
        broker,
        localBus,
        persistence,
        store,
        queue: redis !== undefined ? createRedisQueue(redis, replicas) : createStoreQueue(persistence),
        maxQueued: config.maxQueued,
        canRead: (client, topic) => policyOf(client)?.canRead(topic) === true,
        onQueueFull: (copy, max) => audit.record({
          kind: 'delivery',
          reason: 'queue-full',
          username: undefined,
          clientId: undefined,
          topic: copy.topic,
          qos: copy.qos,
          detail: `consumer group $share/${copy.key} holds ${max} messages for its offline members (sharedSubscriptions.maxQueued): newest dropped`
        }),
        held,
        pending: pending?.copies,
        maxHeld: held !== undefined ? maxHeld : undefined,
        onOverheld: (client, n) => {
          audit.record({
            kind: 'delivery',
            reason: 'slow-consumer',
            username: policyOf(client)?.identity.username ?? undefined,
            clientId: client.id,
            detail: `${n} consumer-group messages unacknowledged by a clean session (limit ${maxHeld ?? 0}): disconnected`
          })
          connOf(client).destroy()
        },
        logger: log
      })
      const g = groups
      if (redis !== undefined) {
        const r = redis
        const l = await createClusterLink({
          bus: busOf(broker),
          redis: r,
          self: broker.id,
          onSync: (key) => g.sync(key),
          onForward: (f) => g.receive(f),
          onHandover: async (items, gate, batch) => await g.take(items, gate, batch),
          onTakenBack: (copies) => log.info({ copies }, 'consumer-group copies taken back by their sender: dropped'),
          handoverTimeoutMs: config.handoverTimeoutMs,
          onError: (err) => log.error({ err }, 'consumer group cluster link error'),
          onLate: (key, brokers) => log.warn({ group: key, brokers }, 'a consumer group change waited out other processes that did not read it'),
          onUnreachable: (b, gone) => {
            if (gone) log.warn({ broker: b }, 'a consumer group\'s process no longer listens on Redis: its members get nothing until it does')
            else log.info({ broker: b }, 'a consumer group\'s process listens on Redis again')
          },
          onReaped: (by) => {
            // copies it held for clean members went to other members meanwhile
            log.warn({ by }, 'another broker process found this one dead (its Redis connection was lost): its consumer-group members are recorded again')
            g.reassert().catch((err: unknown) => log.error({ err }, 'cannot record this process\'s consumer-group members again'))
          },
          onForged: (topic, why) => audit.record({
            kind: 'publish', reason: 'reserved-topic', username: undefined, clientId: undefined, topic, detail: `cluster-link message refused: ${why}`
          })
        })
        link = l
        g.setLink(l)
        sweep = createPresenceSweep({
          redis: r,
          self: broker.id,
          channelOf: liveChannelOf,
          live: () => l.live(),
          candidates: () => g.memberBrokers(),
          onSweep: (gone) => g.sweep(gone),
          onSilent: (b, state) => {
            if (state === 'stopped') log.warn({ broker: b }, SILENT_KEPT)
            else if (state === 'resumed') log.info({ broker: b }, 'a consumer group\'s process that was silent says it is alive again')
            else log.warn({ broker: b, keptMs: STOPPED_MAX_MS }, 'a consumer group\'s process silent too long is taken for dead, although it listens on Redis')
          },
          onError: (err) => log.error({ err }, 'consumer group sweep failed')
        })
        watch = createDeadWatch({
          redis: r,
          self: broker.id,
          channelOf: liveChannelOf,
          // and those it waits on for an answer: found dead, their batches are taken back at once
          candidates: () => [...g.memberBrokers(), ...l.awaited()],
          onDead: async (b) => {
            log.warn({ broker: b }, 'a consumer group\'s process is dead (no Redis subscription): its members are marked offline')
            await g.reap(b)
            // its publishers' hand-overs to it are not waited on for sharedSubscriptions.handoverTimeoutMs
            await l.takeBackFrom(b)
          },
          onError: (err) => log.error({ err }, 'consumer group dead-process watch failed')
        })
      }
      for (const key of (await store.loadAll()).keys()) await g.sync(key)
      // an earlier process under this id, killed and restarted before another found it dead, left members and
      // clean members' copies under it (before the listeners: no client of this process's is connected yet)
      if (redis !== undefined) await g.recover()
      broker.on('clientReady', (client) => g.ready(client))
      broker.on('subscribe', (subs, client) => {
        // a new member of a group with messages waiting (a restored one gets them at clientReady)
        if (keysOf(subs.filter((s) => (s.qos as number) < 128).map((s) => s.topic)).length > 0 && connackSent(client)) g.ready(client)
      })
      broker.on('unsubscribe', (topics, client) => {
        for (const key of keysOf(topics)) {
          g.leave(client, key).catch((err: unknown) => log.error({ err, clientId: client.id }, 'cannot leave the consumer group'))
        }
      })
      // a broker closed without close() (a failed start) must not leave the Redis connection open
      broker.on('closed', () => { void close() })
    },

    async resendToGroups (m, keys) {
      if (groups === undefined) throw new Error('consumer groups not started')
      await groups.resend(m, keys)
    },

    stats: async () => await groups?.stats() ?? [],
    stop () { groups?.stop() },
    close
  }
}
export { sharedGroupsFile } from './member-store.js'
export type { GroupStats, MemberStats } from './group-stats.js'
