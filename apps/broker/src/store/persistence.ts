// The broker's store and message bus: embedded LevelDB under dataDir (durable, one process, the default),
// memory, or Redis (shared persistence + shared bus, so several broker processes form one broker).
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import type { Redis } from 'ioredis'
import type { MQEmitterRedis } from 'mqemitter-redis'
import { connectRedis, describeTarget, type RedisTarget } from './redis-connect.js'
import aedesPersistence from 'aedes-persistence'
import { CallBackPersistence } from 'aedes-persistence/callBackPersistence.js'
import mqemitterRedis from 'mqemitter-redis'
import { WardenError } from '@warden/common'
import type { PersistenceKind } from '../config/schema.js'
import { LevelQueueStore, type IncomingRef, type QueueRecords } from './level-queues.js'
import type { IdAtQueue } from '../aedes/queued-ids.js'
import type { StoredIds } from '../aedes/session-ids.js'
import { RedisQueueStore, type MarkRecords } from './redis-queues.js'
import { localListeners, onResubscribed, tuneRedisBus, type BusStats, type LocalListeners } from './redis-bus.js'
import { createBusBatch } from './redis-bus-batch.js'
import { storeOf, type AedesStore } from '../aedes/store.js'
import { createLocalBindings, type BindingStore } from './binding-store.js'
import { createRedisBindings } from './redis-bindings.js'

export interface Store {
  readonly kind: PersistenceKind
  /** the object handed to aedes as `persistence` */
  readonly persistence: AedesStore
  /** the message bus handed to aedes as `mq`; undefined = aedes's in-process default */
  readonly mq: unknown
  /** cluster mode: how Redis is reached */
  readonly redis?: RedisTarget
  /** cluster mode: messages sent to and received from the other broker processes */
  readonly bus?: BusStats
  /** cluster mode: listeners of this process's own client messages, with no Redis subscription (consumer groups) */
  readonly local?: LocalListeners
  /** cluster mode: `listener` is called each time the bus is subscribed to Redis again after losing its connection */
  readonly onBusResubscribed?: (listener: () => void) => void
  /** the incoming QoS 2 packets stored (level only: the QoS 2 guard's start-up recovery) */
  readonly incoming?: () => AsyncIterable<IncomingRef>
  /** which account each client id belongs to, stored where the sessions are */
  readonly bindings: BindingStore
  /** whether a client has incoming QoS 2 packets awaiting PUBREL (level, redis; memory: see session-present.ts) */
  readonly hasIncoming?: (clientId: string) => Promise<boolean>
  /** the packet ids of a client's incoming QoS 2 packets awaiting PUBREL (level, redis; memory: see session-present.ts) */
  readonly incomingIds?: (clientId: string) => Promise<number[]>
  /** level: the QoS 2 guard's records written in one batch with a message's queue entries */
  readonly queueRecords?: QueueRecords
  /** Redis: the QoS 2 guard's mark set in the script call that queues its message */
  readonly queueMarks?: MarkRecords
  /** the packet ids a session's stored queue holds (messages sent under an id, PUBRELs): none is given to another */
  readonly outgoingIds: StoredIds
  /** level, Redis: QoS 2 messages for live subscribers are queued with the packet id `assign` gives them (aedes/queued-ids.ts) */
  readonly giveIdsAtQueue?: (assign: IdAtQueue) => void
  /** Redis: true for the one process of the cluster that claims `key` first (a dead process's will, swept by each) */
  readonly claimOnce?: (key: string, ms: number) => Promise<boolean>
  /** level: group commit's batches written and operations in them (one batch per event-loop turn at most); Redis: the
   * queue store's script calls and operations in them (redis-batch.ts) */
  readonly commits?: { readonly batches: number, readonly ops: number }
  close (): Promise<void>
}

export interface StoreOptions {
  kind: PersistenceKind
  dataDir: string
  redis?: RedisTarget | undefined
  /** this process's broker id (cluster: the bindings of its connections name it) */
  brokerId: string
}

export async function createStore ({ kind, dataDir, redis, brokerId }: StoreOptions): Promise<Store> {
  if (kind === 'memory') {
    const memory = aedesPersistence()
    const bindings = await createLocalBindings()
    // its own read of the queue (in memory), before Warden's wrappers of it
    const read = storeOf(memory).outgoingStream.bind(memory)
    const outgoingIds: StoredIds = async (clientId) => {
      const ids: number[] = []
      for await (const p of read({ id: clientId })) if (typeof p.messageId === 'number' && p.messageId > 0) ids.push(p.messageId)
      return ids
    }
    return { kind, persistence: storeOf(memory), mq: undefined, bindings, outgoingIds, close: () => memory.destroy() }
  }
  if (kind === 'redis') return await createRedisStore(redis, brokerId)
  const path = join(dataDir, 'mqtt-store')
  try {
    await mkdir(path, { recursive: true })
    const db = new Level<string, unknown>(path)
    await db.open()
    // aedes-persistence-level's layout, with the queues indexed in memory and written by group commit; in
    // aedes-persistence's callback layer, as aedes-persistence-level is (the methods aedes calls, callbacks or not)
    const queues = new LevelQueueStore(db)
    const level = new CallBackPersistence(() => queues)
    const bindings = await createLocalBindings(db)
    return {
      kind,
      persistence: storeOf(level),
      mq: undefined,
      // from the store's index (a snapshot: recovery removes what it publishes)
      incoming: async function * () { yield * [...queues.listIncoming()] },
      bindings,
      hasIncoming: async (clientId) => queues.hasIncoming(clientId),
      incomingIds: async (clientId) => queues.incomingIds(clientId),
      commits: queues.commits,
      queueRecords: queues,
      giveIdsAtQueue: (assign) => { queues.giveIdsAtQueue(assign) },
      outgoingIds: async (clientId) => queues.outgoingIds(clientId),
      async close () {
        await bindings.close()
        await level.destroy()
        if (db.status === 'open') await db.close()
      }
    }
  } catch (err) {
    throw new WardenError('WARDEN_ERR_PERSISTENCE', `cannot open the store at ${path}: ${(err as Error).message}`, { cause: err })
  }
}

async function createRedisStore (target: RedisTarget | undefined, brokerId: string): Promise<Store> {
  if (target === undefined) throw new WardenError('WARDEN_ERR_CONFIG_INVALID', 'redis.url: is required when persistence is redis')
  // fail fast (and clearly) when Redis is not there, instead of retrying forever before 'ready'
  const probe = connectRedis(target, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, sentinelRetryStrategy: () => null })
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    probe.disconnect()
    const key = target.sentinels === undefined ? 'redis.url' : 'redis.sentinels'
    throw new WardenError('WARDEN_ERR_PERSISTENCE', `cannot reach Redis at ${describeTarget(target)} (${key}): ${(err as Error).message}`, { cause: err })
  }
  probe.disconnect()
  // ioredis writes each command with its own system call, a fifth of a cluster worker's CPU for the bus's
  // PUBLISH per message: auto-pipelining sends the commands of one tick in one write (persistent sessions
  // cost the store several commands per message too)
  // the store's and the bus's connections wait for Redis while it is away (no retry limit): a command fails only
  // when the broker closes, never half-way through a message because an outage outlasted a retry count
  const conn = connectRedis(target, { enableAutoPipelining: true, maxRetriesPerRequest: null })
  // aedes-persistence-redis's layout, with the queues' commands batched into scripts and acknowledgements
  // answered from memory (redis-queues.ts); in aedes-persistence's callback layer, as aedes-persistence-redis is
  const queues = new RedisQueueStore({ conn })
  const redis = new CallBackPersistence(() => queues)
  // the subscriber connection skips ioredis's ready check: its INFO would be refused once the connection is
  // in subscriber mode (a reconnect with subscriptions queued), which ioredis raises as a fatal error
  const pubConn = connectRedis(target, { enableAutoPipelining: true, maxRetriesPerRequest: null })
  const subConn = connectRedis(target, { enableReadyCheck: false, maxRetriesPerRequest: null })
  const mq = mqemitterRedis({ subConn, pubConn })
  closeEndedBus(mq, [subConn, pubConn])
  // mqemitter-redis re-emits its connections' errors on `state`, an EventEmitter with no listener: the first
  // error of a Redis outage would be thrown as an uncaught exception and end the process. The outage is
  // reported once by redis-health.ts; the connections reconnect by themselves
  ;(mq as unknown as { state: NodeJS.EventEmitter }).state.on('error', () => {})
  // the bus's PUBLISHes of one event-loop turn in one script call, on its publishing connection
  const bus = tuneRedisBus(mq, createBusBatch(pubConn).publish)
  const bindings = await createRedisBindings(target, brokerId, async () => { await queues.settled() })
  return {
    kind: 'redis',
    persistence: storeOf(redis),
    mq,
    bus,
    local: localListeners(mq),
    onBusResubscribed: (listener) => { onResubscribed(mq, listener) },
    redis: target,
    bindings,
    queueMarks: queues,
    outgoingIds: async (clientId) => await queues.outgoingIds(clientId),
    giveIdsAtQueue: (assign) => { queues.giveIdsAtQueue(assign) },
    claimOnce: async (key, ms) => await queues.claimOnce(key, ms),
    commits: queues.commits,
    // aedes-persistence-redis keeps a client's incoming QoS 2 packets in one hash
    hasIncoming: async (clientId) => await queues.hasIncoming(clientId),
    incomingIds: async (clientId) => await queues.incomingIds(clientId),
    async close () {
      await bindings.close()
      await redis.destroy()
      // aedes closes the bus when it closes; a start that failed before aedes existed has not (a second
      // close does nothing)
      await new Promise<void>((resolve) => { mq.close(() => resolve()) })
    }
  }
}

/**
 * mqemitter-redis's close() quits both connections and waits for their 'end' events. A connection that has
 * already ended — a broker shutting down while Redis is away gives up on its connections (abortRedis) — never
 * emits another, and aedes's close would wait for ever: such a connection counts as closed already.
 */
function closeEndedBus (mq: MQEmitterRedis, conns: readonly Redis[]): void {
  const bus = mq as unknown as { closed: boolean, closing: boolean, close (cb?: () => void): unknown, _close (cb: () => void): void }
  const close = bus.close.bind(bus)
  bus.close = (cb = () => {}) => {
    const live = conns.filter((c) => c.status !== 'end')
    if (bus.closed || bus.closing || live.length === conns.length) return close(cb)
    bus.closing = true
    let waiting = live.length
    if (waiting === 0) { bus._close(cb); return }
    for (const c of live) {
      c.once('end', () => { if (--waiting === 0) bus._close(cb) })
      c.quit().catch(() => {})
    }
  }
}
