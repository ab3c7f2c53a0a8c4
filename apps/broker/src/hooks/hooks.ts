// The rules stage of the hook pipeline (pipeline.ts): turns the pure rules' decisions into aedes hook
// behaviour — CONNACK codes, SUBACK 0x80, refused publishes (through refusal.ts), per-message read filtering.
import type { AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import type { Logger } from '@warden/common'
import type { Account, UserDirectory } from '../auth/user-directory.js'
import { CONTROL_TOPIC, isControlTopic } from '../policy/control-topics.js'
import { DENY_RESERVED, type Decision } from '../policy/decision.js'
import { RESERVED_PREFIX } from '../policy/internal-topics.js'
import { createIdentity, type Identity } from '../policy/identity.js'
import type { OwnershipPolicy } from '../policy/ownership.js'
import type { RoleSource } from '../policy/read-rules.js'
import type { Audit } from '../audit/audit.js'
import { certNameOf } from '../net/cert-identity.js'
import { ClientPolicy } from './client-policy.js'
import { forgetDelivery, isWillOf, pendingWillOf } from '../aedes/accessors.js'
import { cappedQos, holdWrites, remoteAddressOf } from '../aedes/client-internals.js'
import { clientSlot } from '../aedes/client-slot.js'
import { decideLaterWill, isStoredWill, recordWillOwner } from '../delivery/will-owner.js'
import { judgeLater, ownerGone } from '../delivery/recorded-owner.js'
import type { AedesHooks, AuthenticateDone, HookStage, PreConnectDone, PublishDone, SubscribeDone } from './pipeline.js'
import type { Refusal } from './refusal.js'
import { DeliveryLatency } from './delivery-latency.js'

export interface HookDeps {
  directory: UserDirectory
  ownership: OwnershipPolicy
  /** the roles' read grants now (they change at run time) */
  roles: RoleSource
  audit: Audit
  /** refuses a client's publish: audited, then dropped or the connection closed (deniedPublish) */
  refusal: Refusal
  logger: Logger
}

/** answers a request an admin published on CONTROL_TOPIC (the control plane) */
export type ControlHandler = (client: Client, identity: Identity, payload: Buffer | string) => void

/** Plain counters bumped on the hot path; the control plane reads them (metrics, rates). */
export interface TrafficStats {
  forwardFiltered: number
  /** publishes accepted from clients, by QoS, and their payload bytes */
  readonly received: [number, number, number]
  receivedBytes: number
  /** messages handed to subscribers, by the QoS delivered, and their payload bytes */
  readonly sent: [number, number, number]
  sentBytes: number
  /** accepted → handed to this process's subscribers, sampled (observe/delivery-latency.ts) */
  readonly latency: DeliveryLatency
}

export interface WardenHooks extends HookStage {
  preConnect (client: Client, packet: ConnectPacket, cb: PreConnectDone, next: AedesHooks['preConnect']): void
  authenticate (client: Client, username: string | undefined, password: Buffer | undefined, cb: AuthenticateDone,
    next: AedesHooks['authenticate']): void
  authorizePublish (client: Client | null, packet: PublishPacket, cb: PublishDone, next: AedesHooks['authorizePublish']): void
  authorizeSubscribe (client: Client, sub: Subscription, cb: SubscribeDone, next: AedesHooks['authorizeSubscribe']): void
  authorizeForward (client: Client, packet: AedesPublishPacket, next: AedesHooks['authorizeForward']): AedesPublishPacket | null
  policyOf (client: Client): ClientPolicy | undefined
  /** the account as it was when the client's password was verified (a later change ends the connection) */
  accountOf (client: Client): Account | undefined
  /** wires the control plane's handler of control requests */
  attachControl (handler: ControlHandler): void
  /** rebuilds a connected client's rules for new roles (registry change); null: its account is gone */
  setRoles (client: Client, roles: readonly string[] | null): void
  readonly stats: TrafficStats
}

function authError (returnCode: 2 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

/** each authenticated client's rules, and the account it logged in as (aedes/client-slot.ts: no weak table each) */
const policies = clientSlot<ClientPolicy>('policy')
const accounts = clientSlot<Account>('account')

export function createHooks ({ directory, ownership, roles, audit, refusal }: HookDeps): WardenHooks {
  const emptyPersistentId = new WeakSet<Client>()
  let control: ControlHandler | undefined
  const stats: TrafficStats = { forwardFiltered: 0, received: [0, 0, 0], receivedBytes: 0, sent: [0, 0, 0], sentBytes: 0, latency: new DeliveryLatency() }

  // A will published after its client is gone (its broker process died; the store hands it to this one):
  // refused, it is emptied and dropped rather than failed, so that aedes deletes it from the store instead of
  // trying it again (and auditing it again) every few heartbeats
  const authorizeLaterWill = (client: Client | null, packet: PublishPacket, cb: PublishDone, next: AedesHooks['authorizePublish']): void => {
    const clientId = (packet as { clientId?: string }).clientId
    const judged = decideLaterWill(packet, directory.accounts, ownership)
    if (judgeLater(judged, packet, { kind: 'will', clientId, otherwise: 'published after its client was gone' }, audit)) {
      next(client, packet, cb)
      return
    }
    refusal.discard(packet)
    cb(null)
  }

  return {
    name: 'rules',
    stats,
    policyOf: (client) => policies.get(client),
    accountOf: (client) => accounts.get(client),
    attachControl (handler) { control = handler },
    setRoles (client, newRoles) {
      const p = policies.get(client)
      if (p === undefined) return
      if (newRoles === null) policies.delete(client)
      else policies.set(client, new ClientPolicy(createIdentity(p.identity.username, client.id, newRoles), roles, ownership))
    },

    preConnect (client, packet, cb, next) {
      // aedes 1.2 accepts an empty client id with clean=0; MQTT-3.1.3-8 requires CONNACK 2 (refused in authenticate)
      if (packet.clientId === '' && packet.clean === false) emptyPersistentId.add(client)
      next(client, packet, cb)
    },

    authenticate (client, username, password, cb, next) {
      const address = remoteAddressOf(client)
      if (emptyPersistentId.has(client)) {
        audit.record({ kind: 'connect', reason: 'identifier-rejected', username, clientId: '', address, detail: 'empty client id needs clean session' })
        cb(authError(2, 'identifier rejected'), null)
        return
      }
      directory.authenticate(username, password, address, certNameOf(client)).then((res) => {
        if (!res.ok) {
          audit.record({ kind: 'connect', reason: res.reason, username, clientId: client.id, address, detail: res.detail })
          cb(authError(res.returnCode, res.detail), null)
          return
        }
        const policy = new ClientPolicy(createIdentity(res.username, client.id, res.roles), roles, ownership)
        // a device must not plant a will on a topic it does not own
        const will = pendingWillOf(client)
        if (will !== null) {
          const d = isControlTopic(will.topic) ? DENY_RESERVED : policy.decidePublish(will.topic)
          const why = d.allowed && d.payload !== undefined ? d.payload(will.payload) : null
          if (!d.allowed || why !== null) {
            const reason = d.allowed ? 'schema-violation' : d.reason
            audit.record({
              kind: 'will', reason, username, clientId: client.id, address, topic: will.topic, qos: will.qos,
              ...(d.filter !== undefined ? { filter: d.filter } : {}),
              ...(why !== null ? { detail: why } : {})
            })
            cb(authError(5, 'will topic not authorized'), null)
            return
          }
        }
        if (will !== null) recordWillOwner(will, res.username !== undefined ? directory.accounts.get(res.username) : undefined)
        policies.set(client, policy)
        if (res.account !== undefined) accounts.set(client, res.account)
        next(client, username, password, cb)
      }, (err: unknown) => cb(authError(5, (err as Error).message), null))
    },

    authorizePublish (client, packet, cb, next) {
      if (client === null || isStoredWill(packet)) { authorizeLaterWill(client, packet, cb, next); return }
      const policy = policies.get(client)
      const isWill = isWillOf(client, packet)
      if (policy === undefined) {
        // its account was deleted, or its login changed, while it was connected: the will goes with it
        if (isWill) {
          const was = accounts.get(client)
          audit.record({
            kind: 'will', reason: 'not-authorized', username: was?.username, clientId: client.id, topic: packet.topic, qos: packet.qos,
            detail: ownerGone('set the will', was?.id, was === undefined ? undefined : directory.accounts.get(was.username))
          })
        }
        // MQTT 5: aedes answers PUBACK 0x87
        cb(new Error('client is not authenticated'))
        return
      }
      const topic = packet.topic
      let d: Decision
      if (topic.charCodeAt(0) === 36 && isControlTopic(topic)) {
        if (topic === CONTROL_TOPIC && policy.identity.admin && !isWill && control !== undefined) {
          // a control request is answered on the response topic and never forwarded
          control(client, policy.identity, packet.payload)
          refusal.discard(packet)
          cb(null)
          return
        }
        d = DENY_RESERVED
      } else {
        d = policy.decidePublish(topic)
      }
      let why: string | null = null
      if (d.allowed && d.payload !== undefined && (why = d.payload(packet.payload)) !== null) {
        d = { allowed: false, reason: 'schema-violation', filter: d.filter }
      }
      if (d.allowed) {
        const bytes = packet.payload.length
        const meter = d.meter
        if (meter !== undefined) { meter.messages++; meter.bytes += bytes; meter.lastAt = Date.now() }
        stats.received[packet.qos]++
        stats.receivedBytes += bytes
        stats.latency.accepted(packet)
        next(client, packet, cb)
        return
      }
      refusal.publish(client, packet, { reason: d.reason, will: isWill, filter: d.filter, detail: why ?? undefined }, cb)
    },

    authorizeSubscribe (client, sub, cb, next) {
      const policy = policies.get(client)
      if (policy === undefined) { cb(new Error('client is not authenticated')); return }
      const topic = sub.topic
      if (topic.startsWith(RESERVED_PREFIX) || !policy.canSubscribe(topic)) {
        audit.record({
          kind: 'subscribe', reason: topic.startsWith(RESERVED_PREFIX) ? 'reserved-topic' : 'not-granted',
          username: policy.identity.username, clientId: client.id, topic, qos: sub.qos
        })
        cb(null, null)
        return
      }
      next(client, sub, cb)
    },

    authorizeForward (client, packet, next) {
      const policy = policies.get(client)
      if (policy === undefined || !policy.canRead(packet.topic)) {
        stats.forwardFiltered++
        // a reader that lost the right keeps its subscription: a persistent session's queue must not keep the
        // message, as aedes does (it forgets by packet id only, and a live copy has none yet). Kept, each one
        // counted towards the queue bound, which cut the connection off, and was sent once the right came back
        if (policy !== undefined) forgetDelivery(client, packet)
        return null
      }
      const qos = packet.qos === 0 ? 0 : cappedQos(client, packet) as 0 | 1 | 2
      // the stages after this one may still not send it (expired, too large for the client)
      const out = next(client, qos === packet.qos ? packet : { ...packet, qos } as AedesPublishPacket)
      if (out === null) return null
      holdWrites(client) // aedes writes it from a setImmediate: batched with this round's other deliveries
      stats.sent[qos]++
      stats.sentBytes += packet.payload.length
      return out
    }
  }
}
