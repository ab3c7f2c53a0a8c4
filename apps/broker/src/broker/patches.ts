// Every patch Warden installs on aedes (written for 1.2, now on 2.0.0-beta.1) and its store, in the order it is installed, each with the aedes
// behaviour it corrects. Wrappers of one method run outermost-last: a later entry sees the earlier ones.
// The per-connection patches are listed in limits/connection-patches.ts (installed as each client is created).
// This list sees every concern, so it sits with the assembly; ../aedes/ holds the internals, patch(), contract.
import { queueAtGrantedQos } from '../store/queued-qos.js'
import { oneSweepPerWill } from '../delivery/will-sweep.js'
import type { Aedes } from 'aedes'
import type { PersistenceKind } from '../config/schema.js'
import { attachHardening } from './hardening.js'
import type { Limits } from '../limits/limits.js'
import { skipCleanSessionAcks } from '../delivery/clean-acks.js'
import { storePubrelsApart } from '../store/memory-pubrel.js'
import { sendOncePerConnection } from '../store/memory-in-flight.js'
import { orderPerClient } from '../delivery/ordered-delivery.js'
import type { PublishGate } from '../delivery/publish-gate.js'
import { installQos2Guard, type Qos2Guard } from '../delivery/qos2-guard.js'
import type { QueueRecords } from '../store/level-queues.js'
import type { MarkRecords } from '../store/redis-queues.js'
import type { Qos2Recheck } from '../delivery/qos2-recheck.js'
import type { QueueBound } from '../limits/queue-bound.js'
import type { RetainedQuota } from '../limits/retained-quota.js'
import { countIncoming, reportSessionState, type HasIncoming, type IncomingIds } from '../sessions/session-present.js'
import type { SharedSubscriptions } from '../groups/shared-subscriptions.js'
import { storeSubscribeOnce } from '../store/subscribe-once.js'
import { ackAfterReplicas, type ReplicaFence } from '../store/redis-replicas.js'
import { markStoredWills } from '../delivery/will-owner.js'
import { setDupOnResend } from '../delivery/resend-dup.js'
import { setRetainOnReplay } from '../delivery/replay-retain.js'
import { claimResumeReads, keepReplayedEntries } from '../delivery/replay-claims.js'
import { BROKER_INTERNALS, BUS_INTERNALS, STORE_INTERNALS, checkInternals } from '../aedes/contract.js'
import { busOf } from '../aedes/accessors.js'
import { installNullPrototypeMaps } from '../aedes/prototype-keys.js'
import { cleanIncomingOnCleanSessions } from '../aedes/clean-incoming.js'
import { boundInboundQos2 } from '../aedes/inbound-window.js'
import { keepQueueOnResume } from '../aedes/resume-queue.js'
import { connackFirst } from '../aedes/connack-first.js'
import { stripWillDelay } from '../aedes/will-properties.js'
import { refuseMqtt5 } from '../aedes/protocol-gate.js'
import { settlePubrelDeletes } from '../aedes/pubrel-race.js'
import { holdProtocolWrites } from '../aedes/client-internals.js'
import { queuedIdsOf, type IdAtQueue } from '../aedes/queued-ids.js'
import { keepSessionIds, type StoredIds } from '../aedes/session-ids.js'
import { installOutboundWrites, refuseZeroPacketSize } from '../aedes/outbound-window.js'
import { keepRetainedDeliveries } from '../aedes/retain-as-published.js'
import { skipUnqueuedDeliveries } from '../aedes/unqueued-deliveries.js'
import { limitKeepAlive } from '../aedes/server-keep-alive.js'
import { acceptShareFilters, advertiseSharedSubscriptions, forgetLeakedShareNames } from '../aedes/shared-subscribe.js'
import { acceptPrototypeFilters } from '../aedes/prototype-filters.js'
import { storeSessionExpiry } from '../aedes/session-timers.js'
import { stacklessMisses } from '../store/memory-misses.js'
import { isTakenOver, takeoverOf } from '../sessions/takeover.js'
import { keepNewestWill } from '../aedes/takeover-wills.js'
import { disconnectTakenOverBeforeReady } from '../aedes/takeover-disconnect.js'
import { V5 } from '../hooks/reason-codes.js'
import type { AedesStore } from '../aedes/store.js'

interface PatchStep {
  readonly name: string
  /** the aedes behaviour it corrects (spec clause or upstream issue) */
  readonly reason: string
  readonly when?: boolean
  install (): void
}

function installAll (steps: readonly PatchStep[]): void {
  for (const s of steps) if (s.when !== false) s.install()
}

export interface StorePatchDeps {
  kind: PersistenceKind
  retained: RetainedQuota
  /** redis.waitForReplicas > 0: what acknowledgements wait behind */
  replicas?: ReplicaFence | undefined
  /** Redis: a claim only one process of the cluster gets (a dead process's will is published by one survivor) */
  claimOnce?: ((key: string, ms: number) => Promise<boolean>) | undefined
}

/** Before aedes is created: the store alone. */
export function patchStore (store: AedesStore, { kind, retained, replicas, claimOnce }: StorePatchDeps): void {
  installAll([
    // innermost: only the memory store's own code runs without stack traces
    {
      name: 'stackless-misses',
      when: kind === 'memory',
      reason: 'aedes-persistence\'s memory store captures a stack trace for every lookup that misses (each QoS 2 message makes two)',
      install: () => stacklessMisses(store)
    },
    {
      name: 'queue-at-granted-qos',
      reason: 'aedes queues a message for an offline session at its published QoS, and replays it so (MQTT-3.8.4-6)',
      install: () => queueAtGrantedQos(store)
    },
    {
      name: 'order-per-client',
      reason: 'stores complete writes out of order (LevelDB thread pool): a client\'s messages overtake each other (MQTT 3.1.1 4.6)',
      install: () => orderPerClient(store, kind === 'level' ? ['incomingGetPacket'] : [])
    },
    {
      name: 'one-sweep-per-will',
      reason: 'aedes\'s will sweeps overlap when one is slow, and each surviving process sweeps a dead one\'s wills: published twice',
      install: () => oneSweepPerWill(store, claimOnce)
    },
    {
      name: 'mark-stored-wills',
      reason: 'aedes publishes a dead broker\'s stored wills with client null or another client: they are judged by their recorded owner',
      install: () => markStoredWills(store)
    },
    {
      name: 'dup-on-resend',
      reason: 'aedes sends a queued PUBLISH it had sent before again with DUP 0 (MQTT-3.3.1-1)',
      install: () => setDupOnResend(store, kind !== 'redis')
    },
    {
      name: 'retain-on-replay',
      reason: 'aedes replays a queued retained message with RETAIN 1 to a subscription without Retain As Published (MQTT-3.3.1-9, -12)',
      install: () => setRetainOnReplay(store)
    },
    {
      name: 'store-pubrels-apart',
      when: kind === 'memory',
      reason: 'aedes-persistence 11 matches a PUBREL to any earlier stored PUBREL and loses a QoS 2 message',
      install: () => storePubrelsApart(store)
    },
    {
      name: 'memory-in-flight',
      when: kind === 'memory',
      reason: 'the memory store sends a resumed session a message twice when its publish crosses the return: from its queue and live',
      install: () => sendOncePerConnection(store)
    },
    {
      name: 'subscribe-once',
      when: kind === 'redis',
      reason: 'aedes calls addSubscriptions once per filter with the whole array; the redis store never answers the first call',
      install: () => storeSubscribeOnce(store)
    },
    {
      name: 'claim-resume-reads',
      when: kind === 'redis',
      reason: 'aedes sends a resumed session a message from its queue and again live when its publish reached the bus after the ' +
        'queue read; once the first copy is acknowledged the Redis store cannot tell (the level store can): at QoS 2 a second message',
      install: () => claimResumeReads(store)
    },
    {
      name: 'keep-replayed-entries',
      when: kind === 'redis',
      reason: 'aedes forgets a queued message whose live copy it drops: after a bus outage the copy a queue replay sent is then unacknowledged and unqueued',
      install: () => keepReplayedEntries(store)
    },
    { name: 'retained-quota', reason: 'aedes 1.2 lets the retained store grow without limit', install: () => retained.patchStore() },
    // outermost: an acknowledgement waits for the replicas once every other step of the write is done
    {
      name: 'ack-after-replicas',
      when: replicas !== undefined,
      reason: 'Redis replicates asynchronously: an acknowledged write can be lost in a failover (redis.waitForReplicas)',
      install: () => ackAfterReplicas(store, replicas as ReplicaFence)
    }
  ])
}

export interface BrokerPatchDeps {
  /** created with the hooks (they refuse through it), installed here */
  gate: PublishGate
  recheck: Qos2Recheck
  hasIncoming: HasIncoming | undefined
  /** the packet ids of a client's stored incoming QoS 2 packets (level, redis; with neither, both are counted here: memory) */
  incomingIds?: IncomingIds | undefined
  /** level: the QoS 2 guard's records go to disk with the message's queue entries */
  queueRecords?: QueueRecords | undefined
  /** Redis: the QoS 2 guard's mark is set in the script call that queues the message */
  queueMarks?: MarkRecords | undefined
  /** level, Redis: QoS 2 messages for live subscribers are queued with their packet id (aedes/queued-ids.ts) */
  giveIdsAtQueue?: ((assign: IdAtQueue) => void) | undefined
  /** the packet ids a session's stored queue holds (read as a session is resumed) */
  outgoingIds: StoredIds
  limits: Limits
  queue: { maxQueuedMessages: number, maxQueuedBytes: number }
  shared: SharedSubscriptions
  /** inbound QoS 2 messages a connection may have stored awaiting PUBREL (limits.maxInflightInbound); 0: no bound */
  maxInflightInbound: number
  /** config mqtt5: false refuses MQTT 5 CONNECTs (CONNACK 1, as aedes 1.2 did) */
  acceptMqtt5?: boolean
  /** limits.maxKeepAliveSeconds: the Server Keep Alive of MQTT 5 clients asking for more (0: none) */
  maxKeepAliveSeconds?: number
  /** the store keeps one will per client id (level, memory), not one per broker process and client id (Redis) */
  willsKeyedByClientId: boolean
}

export interface BrokerPatches { qos2: Qos2Guard, queues: QueueBound }

/** Once aedes exists, before any listener accepts a connection. */
export function patchBroker (broker: Aedes, store: AedesStore, deps: BrokerPatchDeps): BrokerPatches {
  let qos2: Qos2Guard | undefined
  let queues: QueueBound | undefined
  let incoming = deps.hasIncoming === undefined || deps.incomingIds === undefined ? undefined : { has: deps.hasIncoming, ids: deps.incomingIds }
  installAll([
    {
      name: 'contract', reason: 'refuse to start on an aedes whose internals are not the ones listed in contract.ts', install: () => {
        checkInternals(broker, BROKER_INTERNALS, 'broker')
        checkInternals(busOf(broker), BUS_INTERNALS, 'broker.mq')
        checkInternals(store, STORE_INTERNALS, 'persistence')
      }
    },
    // before the gate: the gate's tracking of publishes under way must cover the QoS 2 marks
    {
      name: 'qos2-guard',
      reason: 'aedes answers PUBREC for a QoS 2 PUBLISH stored before a crash but never published (MQTT-4.3.3)',
      install: () => {
        qos2 = installQos2Guard(broker, store, deps.recheck, deps.gate, deps.queueRecords, deps.queueMarks,
          async (m, keys) => { await deps.shared.resendToGroups(m, keys) })
      }
    },
    // inner to session-present on the fetch of a resumed session: it must count the session without them
    {
      name: 'share-leaked-names',
      reason: 'Warden on beta.1 stored the disguised name of a $share/ filter ($SHARE\\u0000/…) beside the other filters of its ' +
        'SUBSCRIBE (aedes/shared-subscribe.ts): refused as not granted at each resume, or restored in the real filter\'s place',
      install: () => forgetLeakedShareNames(broker, store)
    },
    {
      name: 'session-present',
      reason: 'aedes sets sessionPresent from stored subscriptions alone (MQTT-3.2.2-2)',
      install: () => {
        incoming ??= countIncoming(store)
        reportSessionState(broker, store, incoming.has)
      }
    },
    {
      name: 'publish-gate',
      reason: 'aedes writes PUBACK before storing a QoS 1 message, and emits in store-completion order (MQTT 3.1.1 4.6)',
      install: () => { deps.gate.install(broker) }
    },
    {
      name: 'queue-bound',
      reason: 'aedes 1.2 lets a persistent session\'s stored queue grow without limit',
      install: () => { queues = attachHardening(broker, store, deps.limits, deps.queue) }
    },
    // after the queue bound, which wraps outgoingClearMessageId too
    {
      name: 'clean-session-acks',
      reason: 'aedes asks the store to clear packet ids it records only for persistent sessions',
      install: () => skipCleanSessionAcks(store)
    },
    // outermost on outgoingClearMessageId: it sees a clean session's acknowledgements, which clean-session-acks answers
    {
      name: 'held-packet-ids',
      reason: 'aedes gives a new QoS 1/2 message a packet id that a message of the session still holds (a resumed session\'s ' +
        'stored one, or one unacknowledged when the counter comes round): MQTT-2.2.1-3, MQTT-4.4.0-1',
      install: () => keepSessionIds(broker, store, deps.outgoingIds)
    },
    {
      name: 'group-store',
      reason: 'aedes stores $share/ filters as literal subscriptions and replays copies another member took',
      install: () => deps.shared.patchStore(store)
    },
    // aedes 2.0.0-beta.1 gaps (aedes/): each re-does what 1.2.0 did or fixes a beta bug, from the advisory or issue
    {
      name: 'null-prototype-maps',
      reason: 'beta.1 keys clients, brokers and subscriptions by wire names in plain objects: ' +
        'a client id \'constructor\' ends the process (GHSA-52qw-whmv-87c5)',
      install: () => installNullPrototypeMaps(broker)
    },
    // outermost on the incoming store methods: they see aedes's own call, with its Client
    {
      name: 'clean-incoming',
      reason: 'beta.1 never clears the inbound QoS 2 table of a clean session (GHSA-p8r9-qf8w-p73r)',
      install: () => cleanIncomingOnCleanSessions(broker, store)
    },
    {
      name: 'inbound-qos2-window',
      reason: 'beta.1 dropped maxInflightInbound: unbounded inbound QoS 2 awaiting PUBREL (GHSA-5jvp-3p2v-5qgf)',
      install: () => boundInboundQos2(store, deps.maxInflightInbound, incoming?.ids)
    },
    // after the window, which frees a slot only on a delete that succeeded
    {
      name: 'pubrel-race',
      reason: 'beta.1 lets a rejected incomingDelPacket (a PUBREL repeated in one read) end the process',
      install: () => settlePubrelDeletes(store)
    },
    {
      name: 'resume-queue',
      reason: 'beta.1 clears the queue of an MQTT 5 session resumed with no Session Expiry Interval, after answering sessionPresent 1',
      install: () => keepQueueOnResume(broker, store)
    },
    {
      name: 'connack-first',
      reason: 'beta.1 restores a resumed session\'s subscriptions before its CONNACK and writes the live messages they match at ' +
        'once: the client gets PUBLISHes before its CONNACK (MQTT-3.2.0-1; MQTT.js then waits out its connect timeout)',
      install: () => connackFirst(broker, deps.limits.outgoing)
    },
    {
      name: 'will-delay-property',
      reason: 'beta.1 publishes a will with its Will Delay Interval property (#1098)',
      install: () => stripWillDelay(broker)
    },
    {
      name: 'outbound-window',
      reason: 'beta.1 sends an MQTT 5 client more unacknowledged QoS 1/2 PUBLISHes than its Receive Maximum (MQTT-3.3.4-9, #829) and ' +
        'sets no topic aliases; the per-connection part is in limits/connection-patches.ts',
      install: () => installOutboundWrites()
    },
    {
      name: 'protocol-writes-held',
      reason: 'aedes writes each PUBLISH, PUBREC, PUBREL and PUBCOMP in its own system call, though many are written in one turn ' +
        '(the continuations of one store batch)',
      install: () => holdProtocolWrites()
    },
    // next to outermost on outgoingUpdate: it sees aedes's own packet object, the one aedes then writes
    {
      name: 'unqueued-deliveries',
      reason: 'beta.1 closes a persistent subscriber whose live delivery has no queue entry (a message published while it ' +
        'subscribed, before its SUBACK, never queued for it; an entry acknowledged, expired or dropped meanwhile): it is skipped',
      install: () => skipUnqueuedDeliveries(store)
    },
    // outermost on outgoingUpdate: every other wrapper sees the packet with its RETAIN 1 back
    {
      name: 'retained-deliveries',
      reason: 'beta.1 records no packet id for a QoS 1/2 PUBLISH with RETAIN 1 to a persistent session (Retain As Published, ' +
        'MQTT-3.3.1-12; retained at subscribe time): its PUBREC closes the connection; the per-connection part is in limits/connection-patches.ts',
      install: () => keepRetainedDeliveries(store)
    },
    {
      name: 'queued-qos2-ids',
      when: deps.giveIdsAtQueue !== undefined,
      reason: 'aedes gives a QoS 2 delivery its packet id only as it sends it: the store wrote the id apart, awaited ' +
        'before the PUBLISH, and removed it after; given when the message is queued, it goes into the queue entry',
      install: () => deps.giveIdsAtQueue?.(queuedIdsOf(broker))
    },
    {
      name: 'zero-maximum-packet-size',
      reason: 'beta.1 accepts an MQTT 5 CONNECT with a Maximum Packet Size of 0, a protocol error: nothing could be sent to it',
      install: () => refuseZeroPacketSize(broker)
    },
    {
      name: 'server-keep-alive',
      when: (deps.maxKeepAliveSeconds ?? 0) > 0,
      reason: 'beta.1 bounds an MQTT 5 client\'s keepalive only with keepaliveLimit, which also refuses 3.1.1 clients over it',
      install: () => limitKeepAlive(broker, deps.maxKeepAliveSeconds ?? 0)
    },
    {
      name: 'v5-shared-subscriptions',
      reason: 'beta.1 refuses $share/ of MQTT 5 clients (SUBACK 0x9E, CONNACK Shared Subscription Available 0): Warden\'s consumer groups serve them',
      install: () => { acceptShareFilters(broker, store); advertiseSharedSubscriptions() }
    },
    // the outermost authorizeSubscribe: no other step sees the disguised name
    {
      name: 'prototype-filters',
      reason: 'beta.1 dedupes a SUBSCRIBE\'s filters (and a restored session\'s) in a plain object: \'__proto__\' with another ' +
        'filter disconnects a 3.1.1 client and ends the process on an MQTT 5 one (GHSA-52qw-whmv-87c5); the per-connection part is in ' +
        'limits/connection-patches.ts',
      install: () => acceptPrototypeFilters(broker, store)
    },
    {
      name: 'takeover-before-ready',
      reason: 'beta.1 closes a connection taken over between its CONNACK and the end of its connect steps (its stored queue ' +
        'being sent) without DISCONNECT 0x8E (MQTT-3.1.4-3); sessions/connect-order.ts keeps one not yet CONNACKed from being taken over',
      install: () => disconnectTakenOverBeforeReady(broker, V5.SESSION_TAKEN_OVER)
    },
    {
      name: 'session-expiry-in-store',
      reason: 'beta.1 times MQTT 5 session expiry in one process\'s memory (#839): lost on restart, and a cluster worker wipes a session resumed elsewhere',
      install: () => storeSessionExpiry(broker, isTakenOver)
    },
    // outermost on scheduleWill and the store's will methods: it decides a takeover's old will before the step above
    {
      name: 'newest-will',
      reason: 'beta.1 removes a stored will by client id when an older connection\'s will is published or dropped (a takeover\'s new ' +
        'connection then has none stored, lost in a crash); it cancels the old connection\'s delayed will even when the takeover ' +
        'ends the session (Clean Start 1, MQTT 5 3.1.3.2.2), and leaves a cancelled one stored',
      install: () => keepNewestWill(broker, store, { keyedByClientId: deps.willsKeyedByClientId, takenOver: takeoverOf })
    },
    // last on preConnect, so it runs first: the patches before it see a refused v5 CONNECT as level 0
    {
      name: 'refuse-mqtt5',
      when: deps.acceptMqtt5 !== true,
      reason: 'mqtt5: false — an operator keeps the broker 3.1.1-only (aedes 2 would accept v5)',
      install: () => refuseMqtt5(broker)
    }
  ])
  return { qos2: must(qos2), queues: must(queues) }
}

function must<T> (v: T | undefined): T {
  if (v === undefined) throw new Error('aedes patch list: a step ran out of order')
  return v
}
