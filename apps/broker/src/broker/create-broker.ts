// Assembles a Warden broker: store, accounts, rules, aedes with Warden's hooks and limits, and the listeners.
import type { EventEmitter } from 'node:events'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { Aedes, type Client } from 'aedes'
import type { Logger } from '@warden/common'
import { clientsOf, subscriptionFilters } from '../aedes/accessors.js'
import { patchBroker, patchStore } from './patches.js'
import { installPacketIds } from '../aedes/packet-ids.js'
import { flushHeldOnClose } from '../aedes/client-internals.js'
import type { AedesStore } from '../aedes/store.js'
import type { WardenConfig } from '../config/schema.js'
import type { UserDirectory } from '../auth/user-directory.js'
import { startControlPlane, type ControlPlane } from './control-plane.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import { openRegistry } from '../registry/open-registry.js'
import { replyOwnerOf, replyTopicOf } from '../policy/reply-topics.js'
import type { Registry } from '../registry/registry.js'
import { createAudit, type Audit } from '../audit/audit.js'
import { listenerDeps } from './hardening.js'
import { createHooks, type WardenHooks } from '../hooks/hooks.js'
import { composeHooks } from '../hooks/pipeline.js'
import { createRefusal } from '../hooks/refusal.js'
import { storeBeforeAck } from '../hooks/store-before-ack.js'
import { ackOrder } from '../hooks/ack-order.js'
import { v5Connack } from '../hooks/v5-connack.js'
import { createOutboundStage } from '../hooks/outbound-v5.js'
import { V5 } from '../hooks/reason-codes.js'
import { createPublishGate } from '../delivery/publish-gate.js'
import { hookStages } from './hook-stages.js'
import { createLimits, type Limits } from '../limits/limits.js'
import { createRetainedQuota, type RetainedQuota } from '../limits/retained-quota.js'
import { startListeners, type ListenerAddresses } from '../net/listeners.js'
import { createQos2Recheck } from '../delivery/qos2-recheck.js'
import { createStore } from '../store/persistence.js'
import { createBusGapReplay } from '../delivery/bus-gap.js'
import { createReplicaFence, type ReplicaFence } from '../store/redis-replicas.js'
import type { BusStats } from '../store/redis-bus.js'
import { createFileIndex, createRedisIndex, createSessionExpiry, indexFile, legacyIndexFile, type SessionExpiry } from '../sessions/session-expiry.js'
import { createSharedSubscriptions, sharedGroupsFile, type SharedSubscriptions } from '../groups/shared-subscriptions.js'
import type { Redis } from 'ioredis'
import { abortRedis, connectRedis, type RedisTarget } from '../store/redis-connect.js'
import { watchRedis } from '../store/redis-health.js'
import { storeHealthStage } from '../hooks/store-health.js'
import { createClientIdGuard } from '../sessions/client-id-guard.js'
import { createConnectOrder } from '../sessions/connect-order.js'
import { createSessions, type Sessions } from '../sessions/sessions.js'
import { createClusterView, type ClusterView } from '../observe/cluster-view.js'
import { logConnections } from '../observe/connection-log.js'
import { createFlowControl, type FlowControl } from '../flow/flow-control.js'
import { createFlowLink } from '../flow/flow-link.js'
import { reachOf } from '../flow/reach.js'
import type { Usage } from '../limits/queue-bound.js'

export interface WardenBroker {
  readonly id: string
  readonly aedes: Aedes
  readonly mqtt: AddressInfo
  /** bound addresses of every enabled listener (mqtt, tls, ws, wss) */
  readonly listeners: ListenerAddresses
  readonly limits: Limits
  /** retained messages stored, per publishing account and in all */
  readonly retained: RetainedQuota
  readonly ownership: OwnershipPolicy
  readonly directory: UserDirectory
  readonly audit: Audit
  readonly hooks: WardenHooks
  /** the control plane's HTTP listener (API, metrics, dashboard) */
  readonly http: AddressInfo
  /** accounts and topic registrations, changeable at run time */
  readonly registry: Registry
  readonly control: ControlPlane
  /** idle persistent sessions expire */
  readonly sessions: SessionExpiry
  /** consumer groups ($share/{group}/{filter}): groups, members, per-member delivery counts */
  readonly shared: SharedSubscriptions
  /** sessions by client id, each bound to the account that made it */
  readonly clientIds: Sessions
  /** cluster mode: client messages sent to the other broker processes and messages received from them */
  readonly bus?: BusStats | undefined
  /** level store: group commit's batches written and operations in them, since start; Redis: the queue store's script calls */
  readonly commits?: { readonly batches: number, readonly ops: number } | undefined
  /** congested subscribers slow down the publishers feeding them (flow/) */
  readonly flow: FlowControl
  close (): Promise<void>
}

export interface BrokerDeps {
  logger: Logger
}

function noop (): void {}

/** how long shutdown waits for a client's DISCONNECT 0x8B to be written before closing it anyway */
const SHUTDOWN_NOTICE_MS = 1000

/** how long a shutdown waits on Redis before it drops the connections */
const CLOSE_GRACE_MS = 10_000

export async function createWardenBroker (config: WardenConfig, { logger }: BrokerDeps): Promise<WardenBroker> {
  // unique per process life: a restarted process gets a new id, so the others publish its clients' wills
  const id = config.brokerId ?? `warden-${hostname()}-${process.pid}`
  // what start-up has opened so far, closed in reverse order if a later step fails (a port in use, Redis
  // gone): a failed start leaves no timer, connection or file handle behind
  const opened: Array<() => unknown> = []
  try {
    // accounts and registrations live in the runtime registry, which the config file seeds
    const runtime = await openRegistry(config, { logger })
    opened.push(() => runtime.close())
    const { directory, ownership } = runtime.rules
    const replies = config.replies
    // cluster mode: how Redis is reached, and every connection made to it (dropped at shutdown if Redis is away)
    const redis = config.redis === undefined ? undefined : { ...config.redis, opened: { conns: new Set<Redis>(), aborted: false } }
    const store = await createStore({ kind: config.persistence, dataDir: config.dataDir, redis, brokerId: id })
    opened.push(() => store.close())

    // eslint-disable-next-line prefer-const -- set below; the audit's emit, made first, must find it unset until then
    let aedes: Aedes | undefined
    const audit = createAudit({
      logger,
      brokerId: id,
      emit: (topic, payload) => aedes?.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, noop)
    })
    // wraps aedes's publish once aedes exists (patches.ts); refused publishes are dropped through it
    const gate = createPublishGate()
    // eslint-disable-next-line prefer-const -- set below; usernameOf, made first for the refusal, must find it unset until then
    let hooks: WardenHooks | undefined
    const usernameOf = (client: Client): string | undefined => hooks?.policyOf(client)?.identity.username
    const refusal = createRefusal({ audit, deniedPublish: config.deniedPublish, gate, usernameOf })
    hooks = createHooks({ directory, ownership, roles: runtime.rules.roles, audit, refusal, logger })
    const rules = hooks
    const shared = createSharedSubscriptions(config.sharedSubscriptions, {
      audit, logger, policyOf: (c) => rules.policyOf(c), maxHeld: config.limits.maxQueuedMessages
    })
    const limits = createLimits(config.limits, {
      audit,
      refusal,
      usernameOf,
      isVerified: (u, p) => directory.isVerified(u, p),
      loginTag: (u, p) => directory.loginTag(u, p)
    })
    opened.push(() => limits.close())
    const guard = createClientIdGuard({
      store: store.bindings,
      brokerId: id,
      accountOf: (c) => { const p = rules.policyOf(c); return p === undefined ? undefined : p.identity.username ?? null },
      accountExists: (name) => directory.accounts.has(name),
      audit,
      logger
    })
    const connectOrder = createConnectOrder()
    const retained = createRetainedQuota(store.persistence, config.limits.retained, {
      usernameOf,
      refused: (client, packet, detail) =>
        limits.audit('publish', 'retained-quota', client, { topic: packet.topic, qos: packet.qos, detail: `${detail}: delivered, not retained` })
    })
    // cluster mode: is Redis there? (readiness, and new connections refused while it is not)
    const health = store.redis === undefined ? undefined : watchRedis(store.redis, logger)
    if (health !== undefined) opened.push(() => health.close())
    // every patch of the store, in order, before aedes first calls it (patches.ts)
    // redis.waitForReplicas: acknowledgements wait for the replicas to have what they depend on
    const replicas = replicaFence(store.redis, logger)
    if (replicas !== undefined) opened.push(() => replicas.close())
    patchStore(store.persistence, { kind: store.kind, retained, replicas, claimOnce: store.claimOnce })
    // before aedes makes its first client: each then gives only packet ids its session does not hold
    await installPacketIds()
    await flushHeldOnClose()
    await retained.load()

    // set once aedes's hardening is installed (patches.ts): the stored queue of each persistent session
    // eslint-disable-next-line prefer-const -- set below; flow control, made first for the hook pipeline, must find it unset until then
    let queueCounts: ReadonlyMap<string, Usage> | undefined
    const flow = createFlowControl(config.limits.flowControl, {
      maxOutgoingBytes: config.limits.maxOutgoingBytes,
      maxQueuedMessages: config.limits.maxQueuedMessages,
      maxQueuedBytes: config.limits.maxQueuedBytes
    }, {
      brokerId: id,
      reachOf: (client) => {
        const reader = rules.policyOf(client)?.reader
        if (reader === undefined) return undefined
        const replyTopic = reader.replies === undefined ? undefined : replyTopicOf(reader.replies, client.id)
        return reachOf(subscriptionFilters(client), reader.grants, reader.readsAllPlain, replyTopic)
      },
      rolesOf: (client) => rules.policyOf(client)?.identity.roles,
      ...(replies !== undefined ? { replyOwnerOf: (topic: string) => replyOwnerOf(replies, topic) } : {}),
      usageOf: (clientId) => queueCounts?.get(clientId),
      log: (event, client) => logger.info({ clientId: client.id, held: flow.stats.held },
        event === 'congested' ? 'subscriber congested: the publishes it receives are held' : 'subscriber clear'),
      stillAccepted: (client, packet, cb) => {
        const policy = rules.policyOf(client)
        // its account deleted while the publish waited
        if (policy === undefined) { cb(new Error('client is not authenticated')); return false }
        const d = policy.decidePublish(packet.topic)
        const why = d.allowed && d.payload !== undefined ? d.payload(packet.payload) : null
        if (d.allowed && why === null) return true
        const detail = `refused once let go by flow control: the rules changed while it was held${why !== null ? ` (${why})` : ''}`
        refusal.publish(client, packet, { reason: d.allowed ? 'schema-violation' : d.reason, filter: d.filter, detail }, cb)
        return false
      }
    })
    opened.push(() => flow.close())
    // cluster mode: what the bus missed while it was away, sent to the persistent sessions connected here
    const busGap = createBusGapReplay()
    const outbound = createOutboundStage({
      tooLarge: (client, packet, bytes, max) => limits.audit('delivery', 'packet-too-large', client, {
        topic: packet.topic, qos: packet.qos, detail: `${bytes} bytes, over the client's Maximum Packet Size (${max}): not sent to it`
      })
    })
    aedes = await Aedes.createBroker({
      id,
      persistence: store.persistence,
      ...(store.mq !== undefined ? { mq: store.mq } : {}),
      heartbeatInterval: config.limits.heartbeatIntervalMs,
      connectTimeout: config.limits.connectTimeoutMs,
      drainTimeout: config.limits.drainTimeoutMs,
      maxTopicLevels: config.limits.maxTopicLevels,
      // MQTT 5 (advertised in CONNACK): Warden counts inbound QoS 2 itself (aedes/inbound-window.ts), and a
      // client's Session Expiry is clamped to the idle expiry of persistent sessions (0: never expire, no cap)
      receiveMaximum: Math.min(config.limits.maxInflightInbound, 65535),
      maximumPacketSize: config.limits.maxPacketBytes,
      // resolved by aedes before authorizePublish: an aliased publish is judged by its topic like any other
      topicAliasMaximum: config.limits.topicAliasMaximum,
      sessionExpiryIntervalLimit: Math.ceil(config.sessions.expiryMs / 1000),
      pendingSessionsLimit: config.sessions.maxPending,
      // MQTT 5 Response Information, to a client that asks for it: its reply topic (policy/reply-topics.ts)
      ...(replies !== undefined ? { responseInformation: (client: Client) => replyTopicOf(replies, client.id) } : {}),
      // the hook pipeline, one ordered list (hook-stages.ts)
      ...composeHooks(hookStages({
        ackOrder: ackOrder(),
        v5Connack,
        storeHealth: storeHealthStage(() => health?.up() ?? true, audit),
        connectOrder: connectOrder.stage,
        clientIds: guard.stage,
        retained: retained.stage,
        limits: limits.stage,
        busGap: store.onBusResubscribed !== undefined ? busGap.stage : undefined,
        groups: shared.stage,
        rules,
        outbound,
        flow: flow.stage,
        storeBeforeAck: storeBeforeAck(gate)
      }).map((s) => s.stage))
    })
    const broker = aedes
    opened.push(() => new Promise<void>((resolve) => broker.close(() => resolve())))
    outbound.watch(broker)
    connectOrder.watch(broker)
    const resubscribed = store.onBusResubscribed
    if (resubscribed !== undefined) {
      // the backlog is judged on the registry as it is after the outage (a grant revoked meanwhile): the
      // registry's own connection may come back later than the bus's, and until then it missed the announcements
      busGap.attach(broker, store.persistence, (listener) => {
        resubscribed(() => {
          runtime.registry.refresh()
            .catch((err: unknown) => { logger.warn({ err }, 'registry not read again after the bus outage: the missed messages are judged on the rules held') })
            .finally(listener)
        })
      })
    }
    // flow control counts what a subscriber acknowledged (puback and pubcomp both end in aedes's 'ack')
    broker.on('ack', (_packet, client) => { flow.acked(client) })
    // every patch of the broker and the store, in order (patches.ts)
    const { qos2, queues } = patchBroker(broker, store.persistence, {
      gate,
      recheck: createQos2Recheck({ directory, ownership, audit, usernameOf: (c) => usernameOf(c as Client) }),
      hasIncoming: store.hasIncoming,
      incomingIds: store.incomingIds,
      queueRecords: store.queueRecords,
      queueMarks: store.queueMarks,
      giveIdsAtQueue: store.giveIdsAtQueue,
      outgoingIds: store.outgoingIds,
      limits,
      queue: config.limits,
      shared,
      // aedes 2 has no such option: Warden counts (aedes/inbound-window.ts)
      maxInflightInbound: config.limits.maxInflightInbound,
      acceptMqtt5: config.mqtt5,
      maxKeepAliveSeconds: config.limits.maxKeepAliveSeconds,
      willsKeyedByClientId: store.kind !== 'redis'
    })
    queueCounts = queues.counts
    watchBroker(broker, rules, logger, store.persistence)
    runtime.rules.attach(broker, rules)
    const clientIds = createSessions(broker, store.persistence, store.bindings, guard, connectOrder)
    store.bindings.onKick((clientId) => { void clientIds.kickLocal(clientId) })
    store.bindings.onTakeOver((clientId, endsSession) => clientIds.takeOverLocal(clientId, endsSession))
    runtime.registry.onChange((prev, next) => {
      // a deleted account's sessions go with it: a name created again later starts with no client ids
      for (const u of prev.users) {
        if (next.users.some((n) => n.username === u.username)) continue
        clientIds.forgetAccount(u.username)
          .catch((err: unknown) => logger.error({ err, username: u.username }, 'cannot remove the sessions of a deleted account'))
      }
    })
    opened.push(() => shared.close())
    await shared.attach({
      broker,
      persistence: store.persistence,
      redis: store.redis,
      localBus: store.local,
      membersFile: store.kind === 'level' ? sharedGroupsFile(config.dataDir) : undefined,
      replicas
    })
    const sessions = createSessionExpiry({
      broker,
      persistence: store.persistence,
      index: store.redis !== undefined
        ? await createRedisIndex(connectRedis(store.redis), config.sessions.expiryMs)
        : await createFileIndex(
          store.kind === 'level' ? indexFile(config.dataDir) : undefined,
          store.kind === 'level' ? { file: legacyIndexFile(config.dataDir), expiryMs: config.sessions.expiryMs } : undefined
        ),
      expiryMs: config.sessions.expiryMs,
      sweepIntervalMs: config.sessions.sweepIntervalMs,
      logger,
      onExpired: (clientId) => clientIds.forgetExpired(clientId),
      connectedElsewhere: async (clientId) => {
        const b = await store.bindings.get(clientId)
        return b !== undefined && b.connected && b.brokerId !== id && await guard.connectionAlive(b)
      }
    })
    opened.push(() => sessions.close())
    // what expired while no broker process ran is gone before a client can resume it
    await sessions.sweep()

    // before anyone can connect: see qos2-guard.ts
    if (store.incoming !== undefined) {
      const recovered = await qos2.recover(store.incoming()).catch((err: unknown) => { logger.error({ err }, 'QoS 2 recovery failed'); return 0 })
      if (recovered > 0) logger.warn({ recovered }, 'published QoS 2 messages that the last run stored but had not published')
    }
    // cluster mode: congestion is announced to every worker (before the listeners: a client's first publish can be held)
    if (store.redis !== undefined && config.limits.flowControl.enabled) flow.link(await createFlowLink(store.redis, id, flow.peer))
    const listeners = await startListeners(config, listenerDeps(broker, limits, logger, flow))
    opened.push(() => { listeners.destroyConnections(); return listeners.close() })
    const mqtt = listeners.addresses.mqtt
    // several workers on one Redis: one view of them all (observe/cluster-view.ts)
    let cluster: ClusterView | undefined
    if (store.redis !== undefined) {
      const view = cluster = await createClusterView(store.redis, id, logger)
      opened.push(() => view.close())
    }
    const control = await startControlPlane({
      config, brokerId: id, broker, hooks: rules, audit, runtime, gate, mqtt, logger, groups: () => shared.stats(), bus: store.bus, sessions: clientIds,
      connectedAt: guard.connectedSince,
      retained: () => retained.usage.total,
      cluster,
      redis: store.redis,
      storeUp: () => health?.up() ?? true,
      flow
    })
    const bound = Object.fromEntries(Object.entries(listeners.addresses).map(([k, a]) => [k, `${a.address}:${a.port}`]))
    logger.info({ brokerId: id, ...bound, persistence: store.kind, topics: ownership.size, users: directory.accounts.size }, 'broker listening')

    let closing: Promise<void> | undefined
    return {
      id,
      aedes: broker,
      mqtt,
      listeners: listeners.addresses,
      limits,
      retained,
      ownership,
      directory,
      audit,
      hooks: rules,
      http: control.http,
      registry: runtime.registry,
      control,
      sessions,
      clientIds,
      shared,
      bus: store.bus,
      commits: store.commits,
      flow,
      close () {
        closing ??= (async () => {
          // Redis away: what waits on it would wait for ever (the store's connections have no retry limit, so that
          // an outage holds messages instead of failing them). Shutting down while it is away, or if it goes away
          // meanwhile, those connections are dropped: unacknowledged messages are not lost, their publishers
          // send them again to the next broker
          const abort = redis === undefined ? undefined : setTimeout(() => abortRedis(redis), health?.up() === false ? 0 : CLOSE_GRACE_MS)
          await control.close()
          await cluster?.close()
          shared.stop()
          // publishes held for congested subscribers go on, and no new one is held
          flow.close()
          // stop accepting; close clients (their wills are published); let publishes already acknowledged
          // reach the store before the bus and the store close
          const serverClosed = listeners.close()
          const clients = Object.values(clientsOf(broker))
          // MQTT 5 clients are told why (DISCONNECT 0x8B server shutting down); 3.1.1 ones are closed. aedes
          // writes the DISCONNECT as any packet, waiting for a full socket to drain: one that does not read is
          // closed without it
          await Promise.all(clients.map((c) => new Promise<void>((resolve) => {
            if (c === undefined) { resolve(); return }
            const late = setTimeout(() => c.close(() => resolve()), SHUTDOWN_NOTICE_MS)
            c.disconnect({ reasonCode: V5.SERVER_SHUTTING_DOWN }, () => { clearTimeout(late); resolve() })
          })))
          await gate.settled(3000)
          await shared.close()
          await new Promise<void>((resolve) => broker.close(() => resolve()))
          // sockets that never became clients (no CONNECT yet) would hold the listeners open
          listeners.destroyConnections()
          limits.close()
          await serverClosed
          await sessions.close()
          health?.close()
          await store.close()
          replicas?.close()
          await runtime.close()
          clearTimeout(abort)
        })()
        return closing
      }
    }
  } catch (err) {
    for (const close of opened.reverse()) {
      // the first error is the one to report; the others only say that closing failed too
      try { await close() } catch (closeErr) { logger.debug({ err: closeErr }, 'closing after a failed start') }
    }
    throw err
  }
}

function watchBroker (broker: Aedes, hooks: WardenHooks, logger: Logger, store: AedesStore): void {
  // the typings omit the broker's own 'error' event
  const events: EventEmitter = broker
  events.on('error', (err: Error) => logger.error({ err }, 'broker error'))
  broker.on('clientError', (client, err) => logger.debug({ clientId: client.id, err: err.message }, 'client error'))
  broker.on('connectionError', (_client, err) => logger.debug({ err: err.message }, 'connection error'))
  // aedes 1.2 stores every filter of a SUBSCRIBE of a persistent client, denied ones too, and queues their
  // messages; remove the denied ones (authorizeForward would drop their messages anyway). An MQTT 5 client's
  // refusal is 0x87 (0x9E for `$share/`), a 3.1.1 client's 0x80: every code from 0x80 up is a refusal
  broker.on('subscribe', (subs, client) => {
    const denied = subs.filter((s) => (s.qos as number) >= 128).map((s) => s.topic)
    if (denied.length === 0 || client.clean) return
    store.removeSubscriptions(client, denied).catch((err: unknown) => logger.error({ err }, 'cannot remove denied subscriptions'))
  })
  logConnections(broker, logger, { usernameOf: (client) => hooks.policyOf(client)?.identity.username })
}

/** `redis.waitForReplicas` > 0: the fence acknowledgements wait behind (store/redis-replicas.ts) */
function replicaFence (target: RedisTarget | undefined, logger: Logger): ReplicaFence | undefined {
  const count = target?.waitForReplicas ?? 0
  if (target === undefined || count === 0) return undefined
  const timeoutMs = target.replicaTimeoutMs ?? 1000
  let warnedAt = 0
  // no retry limit, as the store's own connections: while Redis is away, acknowledgements wait with the writes
  return createReplicaFence(connectRedis(target, { maxRetriesPerRequest: null }), {
    count,
    timeoutMs,
    onShort (got) {
      const now = Date.now()
      if (now - warnedAt < 10_000) return
      warnedAt = now
      logger.warn({ replicas: got, waitForReplicas: count, replicaTimeoutMs: timeoutMs },
        'fewer Redis replicas than redis.waitForReplicas acknowledged in time: clients closed without their acknowledgement')
    }
  })
}
