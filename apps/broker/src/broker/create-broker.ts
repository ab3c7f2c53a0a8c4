// Assembles a Warden broker: store, accounts, rules, aedes with Warden's hooks, and the TCP listener.
import { createServer, type AddressInfo, type Server } from 'node:net'
import { hostname } from 'node:os'
import { Aedes, type Client } from 'aedes'
import { WardenError, type Logger } from '@warden/common'
import type { WardenConfig } from '../config/schema.js'
import type { UserDirectory } from '../auth/user-directory.js'
import { startControlPlane, type ControlPlane } from '../control/plane.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import { openRegistry } from '../registry/open-registry.js'
import type { Registry } from '../registry/registry.js'
import { createAudit, type Audit } from './audit.js'
import { createHooks, type WardenHooks } from './hooks.js'
import { createStore } from './persistence.js'
import { installPublishGate } from './publish-gate.js'
import { orderPerClient } from './ordered-delivery.js'

export interface WardenBroker {
  readonly id: string
  readonly aedes: Aedes
  readonly mqtt: AddressInfo
  readonly ownership: OwnershipPolicy
  readonly directory: UserDirectory
  readonly audit: Audit
  readonly hooks: WardenHooks
  /** the control plane's HTTP listener (API, metrics, dashboard) */
  readonly http: AddressInfo
  /** accounts and topic registrations, changeable at run time */
  readonly registry: Registry
  readonly control: ControlPlane
  close (): Promise<void>
}

export interface BrokerDeps {
  logger: Logger
}

function noop (): void {}

export async function createWardenBroker (config: WardenConfig, { logger }: BrokerDeps): Promise<WardenBroker> {
  // unique per process life: a restarted process gets a new id, so the others publish its clients' wills
  const id = config.brokerId ?? `warden-${hostname()}-${process.pid}`
  // accounts and registrations live in the runtime registry, which the config file seeds
  const runtime = await openRegistry(config, { logger })
  const { directory, ownership } = runtime.rules
  const store = await createStore({ kind: config.persistence, dataDir: config.dataDir, redisUrl: config.redis?.url })
    .catch(async (err: unknown) => { await runtime.close(); throw err })
  orderPerClient(store.persistence)

  let aedes: Aedes | undefined
  const audit = createAudit({
    logger,
    brokerId: id,
    emit: (topic, payload) => aedes?.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, noop)
  })
  const hooks = createHooks({ directory, ownership, roles: config.roles, audit, deniedPublish: config.deniedPublish, logger })

  try {
    aedes = await Aedes.createBroker({
      id,
      persistence: store.persistence,
      ...(store.mq !== undefined ? { mq: store.mq } : {}),
      heartbeatInterval: config.limits.heartbeatIntervalMs,
      connectTimeout: config.limits.connectTimeoutMs,
      drainTimeout: config.limits.drainTimeoutMs,
      maxTopicLevels: config.limits.maxTopicLevels,
      maxInflightInbound: config.limits.maxInflightInbound,
      preConnect: hooks.preConnect,
      authenticate: hooks.authenticate,
      authorizePublish: hooks.authorizePublish,
      authorizeSubscribe: hooks.authorizeSubscribe,
      authorizeForward: hooks.authorizeForward
    })
  } catch (err) {
    await store.close()
    await runtime.close()
    throw err
  }
  const broker = aedes
  const gate = installPublishGate(broker)
  hooks.attach(gate)
  watchBroker(broker, hooks, logger, store.persistence)
  runtime.rules.attach(broker, hooks)

  const server = createServer({ noDelay: true }, broker.handle)
  let mqtt: AddressInfo
  try {
    mqtt = await listen(server, config.mqtt.port, config.mqtt.host)
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(resolve))
    await store.close()
    await runtime.close()
    throw new WardenError('WARDEN_ERR_LISTEN', `cannot listen on ${config.mqtt.host}:${config.mqtt.port}: ${(err as Error).message}`, { cause: err })
  }
  let control: ControlPlane
  try {
    control = await startControlPlane({ config, brokerId: id, broker, hooks, audit, runtime, gate, mqtt, logger })
  } catch (err) {
    server.close()
    await new Promise<void>((resolve) => broker.close(resolve))
    await store.close()
    await runtime.close()
    throw err
  }
  logger.info({ brokerId: id, mqtt: `${mqtt.address}:${mqtt.port}`, persistence: store.kind, topics: ownership.size, users: directory.accounts.size }, 'broker listening')

  let closing: Promise<void> | undefined
  return {
    id,
    aedes: broker,
    mqtt,
    ownership,
    directory,
    audit,
    hooks,
    http: control.http,
    registry: runtime.registry,
    control,
    close () {
      closing ??= (async () => {
        await control.close()
        // stop accepting; close clients (their wills are published); let publishes already acknowledged
        // reach the store before the bus and the store close
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()))
        const clients = Object.values((broker as unknown as { clients: Record<string, Client> }).clients)
        await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))))
        await gate.settled(3000)
        await new Promise<void>((resolve) => broker.close(() => resolve()))
        await serverClosed
        await store.close()
        await runtime.close()
      })()
      return closing
    }
  }
}

function watchBroker (broker: Aedes, hooks: WardenHooks, logger: Logger, persistence: unknown): void {
  // the typings omit the broker's own 'error' event
  ;(broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) => logger.error({ err }, 'broker error'))
  broker.on('clientError', (client, err) => logger.debug({ clientId: client.id, err: err.message }, 'client error'))
  broker.on('connectionError', (_client, err) => logger.debug({ err: err.message }, 'connection error'))
  // aedes 1.2 stores every filter of a SUBSCRIBE of a persistent client, denied ones too, and queues their
  // messages; remove the denied ones (authorizeForward would drop their messages anyway)
  const store = persistence as { removeSubscriptions: (client: Client, topics: string[]) => Promise<unknown> }
  broker.on('subscribe', (subs, client) => {
    const denied = subs.filter((s) => (s.qos as number) === 128).map((s) => s.topic)
    if (denied.length === 0 || (client as unknown as { clean: boolean }).clean) return
    store.removeSubscriptions(client, denied).catch((err: unknown) => logger.error({ err }, 'cannot remove denied subscriptions'))
  })
  broker.on('client', (client) => {
    const p = hooks.policyOf(client)
    logger.debug({ clientId: client.id, username: p?.identity.username }, 'client connected')
  })
}

function listen (server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}
