// Starts the control plane once the broker listens: rates sampler, $SYS stats, the MQTT control topic, and
// the HTTP listener (API, metrics, probes, events, dashboard). close() stops all of it.
import type { AddressInfo } from 'node:net'
import type { TlsOptions } from 'node:tls'
import type { Aedes } from 'aedes'
import type { Logger } from '@warden/common'
import type { Audit } from '../audit/audit.js'
import type { WardenHooks } from '../hooks/hooks.js'
import type { PublishGate } from '../delivery/publish-gate.js'
import type { WardenConfig } from '../config/schema.js'
import { createLoginGate } from '../limits/login-gate.js'
import { listenError } from '../net/listen-error.js'
import { readTlsOptions } from '../net/listeners.js'
import { createAuthenticator } from '../http/basic-auth.js'
import { createEventStreams } from '../http/events.js'
import { createHttpServer, listenHttp } from '../http/server.js'
import { loadStaticFiles } from '../http/static-files.js'
import { createRedisWebSessions, createWebSessions, type SessionAccounts } from '../http/web-sessions.js'
import { accountFingerprint } from '../auth/account-fingerprint.js'
import { connectRedis, type RedisTarget } from '../store/redis-connect.js'
import { createDenialLog } from '../observe/denial-log.js'
import { createFleet } from '../observe/fleet.js'
import { createRecentMessages } from '../observe/recent-messages.js'
import { createMetrics, type Metrics, type MetricsSources } from '../observe/metrics.js'
import { mergeExpositions, type ClusterView } from '../observe/cluster-view.js'
import { localClients } from '../control/commands.js'
import { answerForCluster } from '../control/cluster-reads.js'
import { buildStatus } from '../control/status.js'
import type { BusStats } from '../store/redis-bus.js'
import { createSampler } from '../observe/sampler.js'
import { startSysStats } from '../control/sys-stats.js'
import type { RegistryRuntime } from '../registry/open-registry.js'
import { changedAccounts } from '../registry/live-rules.js'
import type { ControlContext } from '../control/context.js'
import { createControlTopicHandler } from '../control/control-topic.js'
import { skippedDeliveries } from '../aedes/unqueued-deliveries.js'
import { brokerInternals } from '../aedes/internals.js'

export interface ControlPlane {
  /** the HTTP listener's bound address */
  readonly http: AddressInfo
  readonly context: ControlContext
  close (): Promise<void>
}

export interface PlaneDeps {
  config: WardenConfig
  brokerId: string
  broker: Aedes
  hooks: WardenHooks
  audit: Audit
  runtime: RegistryRuntime
  gate: PublishGate
  mqtt: AddressInfo
  logger: Logger
  groups: ControlContext['groups']
  /** cluster mode: the Redis bus's counters */
  bus?: BusStats | undefined
  sessions: ControlContext['sessions']
  connectedAt: ControlContext['connectedAt']
  /** what the retained store holds */
  retained: () => { readonly count: number, readonly bytes: number }
  /** several workers on one Redis: one view of them all */
  cluster?: ClusterView | undefined
  /** cluster mode: the Redis the workers share (the dashboard's sessions are kept there) */
  redis?: RedisTarget | undefined
  /** whether the store answers (cluster mode: Redis); not ready while it does not */
  storeUp: () => boolean
  /** flow control's counters, and the congested subscribers this worker knows of */
  flow?: MetricsSources['flow']
}

export async function startControlPlane (
  {
    config, brokerId, broker, hooks, audit, runtime, gate, mqtt, logger, groups, bus, sessions, connectedAt, retained, cluster, redis, storeUp, flow
  }: PlaneDeps
): Promise<ControlPlane> {
  const log = logger.child({ component: 'control' })
  const counters = { connections: 0 }
  broker.on('client', () => { counters.connections++ })
  broker.on('publish', (packet) => { hooks.stats.latency.published(packet) })
  // aedes 2 refuses a version it does not speak only through the parser ('Invalid protocol version', before any
  // CONNACK); a v5 CONNECT with mqtt5: false is answered CONNACK 1 (aedes/protocol-gate.ts)
  const protocolRefusals = new Map<string, number>()
  broker.on('connectionError', (_client, err) => {
    const version = err.message === 'Invalid protocol version' ? 'other' : err.message === 'unacceptable protocol version' ? '5' : undefined
    if (version !== undefined) protocolRefusals.set(version, (protocolRefusals.get(version) ?? 0) + 1)
  })
  const sampler = createSampler({
    intervalMs: config.stats.intervalMs, stats: hooks.stats, meters: runtime.rules.meters, clients: () => broker.connectedClients
  })
  const denials = createDenialLog(audit)
  const ctx: ControlContext = {
    brokerId,
    startedAt: Date.now(),
    config,
    broker,
    hooks,
    audit,
    registry: runtime.registry,
    rules: runtime.rules,
    sampler,
    denials,
    connectedAt,
    counters,
    listeners: { mqtt: `${mqtt.address}:${mqtt.port}`, http: '' },
    logger: log,
    groups,
    sessions,
    fleet: createFleet({ broker, hooks, registry: runtime.registry, sampler, onRecord: (l) => audit.onRecord(l) }),
    recent: createRecentMessages(broker, runtime.rules.ownership, config.dashboard.recentMessages),
    cluster
  }
  hooks.attachControl(createControlTopicHandler(ctx))
  const sys = startSysStats(ctx, config.stats.sysIntervalMs)
  const events = createEventStreams(ctx, config.stats.intervalMs)
  // a session is checked on every request against this worker's accounts (kept in step with the registry)
  const accounts: SessionAccounts = {
    fingerprint (username) {
      const account = runtime.rules.directory.accounts.get(username)
      return account === undefined ? undefined : accountFingerprint(account)
    },
    revision: () => runtime.registry.state.revision
  }
  // several workers: a browser's next request may reach any of them, so they share one table in Redis
  const webSessions = redis === undefined
    ? createWebSessions(config.dashboard, accounts)
    : createRedisWebSessions(config.dashboard, accounts, connectRedis(redis, { maxRetriesPerRequest: 1 }))
  // a stream or a dashboard session is a live connection as an MQTT client is: it ends when its account
  // changes (password, roles, loopback rule) or goes
  runtime.registry.onChange((prev, next) => {
    const changed = changedAccounts(prev, next)
    if (changed.size > 0) {
      events.closeFor(changed)
      webSessions.endFor(changed).catch((err: unknown) => {
        // each is still refused and ended at its next request: its account is no longer the one signed in with
        log.warn({ err }, 'dashboard sessions of changed accounts could not be removed now (Redis does not answer)')
      })
    }
    ctx.recent.keepOnly(new Set(next.topics.map((t) => t.filter)))
  })
  const auth = createAuthenticator(runtime.rules.directory, {
    // a gate of its own: API and dashboard logins, and MQTT logins, are counted apart, with the same thresholds
    gate: createLoginGate(config.limits.login),
    onRefused: (username, address, reason, detail, surface) =>
      audit.record({ kind: 'connect', reason, username, clientId: undefined, address, detail: `${surface}: ${detail}` }),
    // a wrong password is a refusal like any other: counted, logged, on $SYS/warden/audit/connect
    onFailure: (username, address, detail, surface) =>
      audit.record({ kind: 'connect', reason: 'bad-credentials', username, clientId: undefined, address, detail: `${surface}: ${detail}` })
  })
  let ready = false
  const metrics = createMetrics({
    broker, stats: hooks.stats, audit, registry: runtime.registry, meters: runtime.rules.meters,
    connections: () => counters.connections, inFlight: () => gate.inFlight, bus, sessions, retained, protocolRefusals, flow,
    unqueued: () => skippedDeliveries(brokerInternals(broker).persistence)
  })
  // what this worker answers when another asks for its part (observe/cluster-view.ts)
  if (cluster !== undefined) {
    cluster.handle('metrics', async () => (await metrics.render()) + askTimeouts(cluster))
    cluster.handle('clients', async (p) => localClients(ctx, typeof p.limit === 'number' ? p.limit : 1000))
    cluster.handle('status', async () => buildStatus(ctx))
    cluster.handle('groups', () => groups())
    answerForCluster(ctx, cluster)
  }
  const server = createHttpServer({
    ctx,
    auth,
    signIn: { auth, sessions: webSessions, config: config.dashboard, behindProxy: config.behindProxy },
    metrics: cluster === undefined ? metrics : clusterMetrics(metrics, cluster),
    events,
    files: await loadStaticFiles(),
    ready: () => ready && !broker.closed && storeUp()
  }, config.http.tls ? httpsOptions(config.tls) : undefined)
  const stopTimers = (): void => {
    sys.close()
    sampler.close()
  }
  let http: AddressInfo
  try {
    http = await listenHttp(server, config.http.port, config.http.host)
  } catch (err) {
    stopTimers()
    await webSessions.close()
    throw listenError('http', config.http.host, config.http.port, err)
  }
  ctx.listeners.http = `${http.address}:${http.port}`
  ready = true
  log.info({ http: ctx.listeners.http }, 'control plane listening')

  let closing: Promise<void> | undefined
  return {
    http,
    context: ctx,
    close () {
      closing ??= (async () => {
        ready = false
        stopTimers()
        events.closeAll()
        await webSessions.close()
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await closed
      })()
      return closing
    }
  }
}

/** HTTPS for the control plane: the MQTT listener's certificate and key; client certificates are not asked for */
function httpsOptions (tls: WardenConfig['tls']): TlsOptions {
  const { cert, key } = readTlsOptions({ ...tls, clientCerts: 'none' })
  return { cert, key }
}

/** this worker's asks that waited out ASK_TIMEOUT_MS: a worker listed, listening, and silent (overloaded or stuck) */
function askTimeouts (cluster: ClusterView): string {
  return '\n# HELP warden_cluster_ask_timeouts_total Asks of this worker to the others (a read of the cluster) that waited the whole 2 s for a silent one\n' +
    '# TYPE warden_cluster_ask_timeouts_total counter\n' +
    `warden_cluster_ask_timeouts_total ${cluster.timeouts}\n`
}

/** /metrics of a cluster: every live worker's series, labelled `worker`, and how many answered */
function clusterMetrics (local: Metrics, cluster: ClusterView): Metrics {
  return {
    contentType: local.contentType,
    async render () {
      const g = await cluster.gather<string>('metrics')
      return mergeExpositions(g.parts) +
        '# HELP warden_cluster_workers Workers of the cluster, by whether they answered this scrape in time\n' +
        '# TYPE warden_cluster_workers gauge\n' +
        `warden_cluster_workers{state="answered"} ${g.parts.length}\nwarden_cluster_workers{state="missing"} ${g.missing.length}\n`
    }
  }
}
