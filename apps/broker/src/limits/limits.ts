// Resource limits: connections (total, per address rate, per user), failed-login throttling, publish rate
// and topic length, subscriptions per client, and the per-connection guards. Its hook stage runs before the
// rules (hooks/pipeline.ts); every refusal is audited (and so counted); the rules stay in hooks/hooks.ts.
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { AuthenticateError, Client } from 'aedes'
import type { HardeningLimits } from '../config/hardening-schema.js'
import type { DenyReason } from '../policy/decision.js'
import type { Audit, AuditKind } from '../audit/audit.js'
import { certNameOf } from '../net/cert-identity.js'
import { clientOfConn, connOf, isWillOf } from '../aedes/accessors.js'
import { remoteAddressOf } from '../aedes/client-internals.js'
import { clientSlot } from '../aedes/client-slot.js'
import { watchClose } from '../aedes/close-hooks.js'
import { clientInternals } from '../aedes/internals.js'
import { connectionPatcher } from './connection-patches.js'
import { isStoredWill } from '../delivery/will-owner.js'
import { isRepeatDelivery } from '../delivery/forward-dedupe.js'
import type { AuthenticateDone, HookStage } from '../hooks/pipeline.js'
import { clip, type Refusal } from '../hooks/refusal.js'
import { connectRefusal, V5 } from '../hooks/reason-codes.js'
import { normalizeAddress } from '../net/address.js'
import { createLoginGate } from './login-gate.js'
import { GrantedFilters } from './granted-filters.js'
import { KeyedBuckets, TokenBucket } from '../audit/token-bucket.js'

const SWEEP_MS = 60_000

export interface LimitsDeps {
  audit: Audit
  refusal: Refusal
  /** the account a client is logged in as (undefined: anonymous, or not yet) */
  usernameOf (client: Client): string | undefined
  /** the directory's verified-credentials cache: a hit skips the verification queue */
  isVerified?: (username: string, password: Buffer) => boolean
  /** the directory's keyed hash of a login: identical logins in flight share one verification */
  loginTag?: (username: string, password: Buffer) => string
}

export interface LimitStats {
  /** publishes held back by publishRate in `delay` mode */
  publishDelayed: number
  /** sockets open (MQTT sessions or not) */
  connections: number
}

export interface Limits {
  /** a new socket on any listener: false refuses it */
  admit (socket: Socket): boolean
  /** an admitted socket closed */
  released (): void
  /** a close hook (aedes/close-hooks.ts): frees the login slot of the closed stream's client */
  connectionClosed (conn: Duplex): void
  /** installs the per-connection guards on a new aedes client */
  guard (client: Client): void
  /** the limits' stage of the hook pipeline, before the rules */
  readonly stage: HookStage
  /** follows the broker's unsubscribes (the count of subscriptions per client), once the broker exists */
  watch (on: (event: 'unsubscribe', listener: (topics: string[], client: Client) => void) => void): void
  audit (
    kind: AuditKind, reason: DenyReason, client: Client | undefined,
    extra?: { address?: string | undefined, clientId?: string, username?: string | undefined, detail?: string, topic?: string, qos?: number }
  ): void
  readonly stats: LimitStats
  /** limits.maxOutgoingBytes, and the audit of a client cut off past it (delivery: slow-consumer) */
  readonly outgoing: { readonly maxOutgoingBytes: number, onSlowConsumer (client: Client, bytes: number): void }
  close (): void
}

interface AuthAnswer { err: AuthenticateError | null, ok: boolean | null }

/** `outboundTopicAliases`: limits.outboundTopicAliases (MQTT 5), set on each connection with the other guards */
export type LimitsConfig = HardeningLimits & { outboundTopicAliases: number }

/** the user each counted connection holds a login slot of; one close hook for all, which finds its client on the socket */
const userOf = clientSlot<string>('loginSlot')

export function createLimits (cfg: LimitsConfig, { audit, refusal, usernameOf, isVerified, loginTag }: LimitsDeps): Limits {
  const stats: LimitStats = { publishDelayed: 0, connections: 0 }
  const connectionRate = new KeyedBuckets(cfg.connectionRate)
  const login = createLoginGate(cfg.login)
  const publishBuckets = new WeakMap<Client, TokenBucket>()
  const subscriptions = new GrantedFilters()
  /** connected clients per username, by client id (a reconnect under the same id is a takeover, not one more) */
  const byUser = new Map<string, Map<string, Client>>()
  const sweep = setInterval(() => {
    const now = Date.now()
    connectionRate.sweep(now)
  }, SWEEP_MS)
  sweep.unref()

  const record: Limits['audit'] = (kind, reason, client, extra = {}) => {
    const address = extra.address ?? (client !== undefined ? normalizeAddress(remoteAddressOf(client)) : undefined)
    const username = extra.username ?? (client !== undefined ? usernameOf(client) : undefined)
    audit.record({
      kind,
      reason,
      username,
      clientId: client?.id ?? extra.clientId,
      address,
      ...(extra.topic !== undefined ? { topic: clip(extra.topic) } : {}),
      ...(extra.qos !== undefined ? { qos: extra.qos } : {}),
      ...(extra.detail !== undefined ? { detail: extra.detail } : {})
    })
  }

  const outgoing: Limits['outgoing'] = {
    maxOutgoingBytes: cfg.maxOutgoingBytes,
    onSlowConsumer: (c, bytes) => record('delivery', 'slow-consumer', c, { detail: `${bytes} bytes waiting to be written (limit ${cfg.maxOutgoingBytes})` })
  }
  // set up once for every connection: the options' callbacks name the client they are called for
  const patchConnection = connectionPatcher({
    maxPacketBytes: cfg.maxPacketBytes,
    maxOutgoingBytes: cfg.maxOutgoingBytes,
    outboundTopicAliases: cfg.outboundTopicAliases,
    onMalformed: (c, v) => record('connection', v.reason, c, { detail: v.detail }),
    onSlowConsumer: outgoing.onSlowConsumer
  })

  // one listener for every socket ('close' comes once: no once() wrapper either)
  const releaseUser = (username: string, client: Client): void => {
    const clients = byUser.get(username)
    if (clients?.get(client.id) !== client) return
    clients.delete(client.id)
    if (clients.size === 0) byUser.delete(username)
  }

  /** a close hook (aedes/close-hooks.ts): the login slot of the stream's client, if it holds one */
  function userClosed (conn: Duplex): void {
    const client = clientOfConn(conn) as Client | undefined
    const username = client === undefined ? undefined : userOf.get(client)
    if (username !== undefined && client !== undefined) releaseUser(username, client)
  }

  /** false when the user already has maxConnectionsPerUser other client ids connected */
  const claimUser = (username: string, client: Client): boolean => {
    let clients = byUser.get(username)
    if (clients === undefined) { clients = new Map(); byUser.set(username, clients) }
    if (cfg.maxConnectionsPerUser > 0 && !clients.has(client.id) && clients.size >= cfg.maxConnectionsPerUser) return false
    clients.set(client.id, client)
    // a socket that closed while its login was verified has emitted 'close' already: a listener added now
    // would never run, and the slot would stay taken until restart
    if (connOf(client).destroyed) releaseUser(username, client)
    else {
      userOf.set(client, username)
      watchClose(clientInternals(client).broker, client.conn)
    }
    return true
  }

  return {
    stats,
    outgoing,
    audit: record,
    close () { clearInterval(sweep) },

    watch (on) {
      on('unsubscribe', (topics, client) => {
        subscriptions.remove(client, topics)
      })
    },

    admit (socket) {
      const address = normalizeAddress(socket.remoteAddress)
      if (cfg.maxConnections > 0 && stats.connections >= cfg.maxConnections) {
        record('connection', 'max-connections', undefined, { address, detail: `${stats.connections} connections open` })
        return false
      }
      if (address !== undefined && !connectionRate.tryTake(address, Date.now())) {
        const detail = `more than ${cfg.connectionRate.perSecond}/s (burst ${cfg.connectionRate.burst})`
        record('connection', 'connection-rate', undefined, { address, detail })
        return false
      }
      stats.connections++
      return true
    },

    released () { stats.connections-- },

    connectionClosed: userClosed,

    guard (client) { patchConnection.created(client) },

    stage: {
      name: 'limits',

      authenticate (client, username, password, cb, next) {
        const address = normalizeAddress(remoteAddressOf(client))
        const admitted: AuthenticateDone = (err, ok) => {
          if (err !== null) { cb(err, ok); return }
          const user = usernameOf(client)
          if (user !== undefined && !claimUser(user, client)) {
            record('connect', 'max-user-connections', client, { address, detail: `${cfg.maxConnectionsPerUser} connections already open for this user` })
            cb(connectRefusal(3, 'too many connections for this user', V5.QUOTA_EXCEEDED), null)
            return
          }
          if (ok === true) patchConnection.admitted(client)
          cb(null, ok)
        }
        // a verified certificate is not a password, nor is an anonymous login: nothing to guess or throttle
        if (certNameOf(client) !== undefined || username === undefined) { next(client, username, password, admitted); return }
        const conn = connOf(client)
        const tag = password !== undefined ? loginTag?.(username, password) : undefined
        const cached = password !== undefined && isVerified?.(username, password) === true
        const attempt = { username, address, cancelled: () => conn.destroyed, cached, ...(tag !== undefined ? { tag } : {}) }
        const verify = (): Promise<AuthAnswer> => new Promise((resolve) => { next(client, username, password, (err, ok) => resolve({ err, ok })) })
        login.attempt(attempt, verify, (a) => a.err?.returnCode === 4).then((outcome) => {
          if (outcome.kind === 'verified') { admitted(outcome.value.err, outcome.value.ok); return }
          if (outcome.kind === 'cancelled') { cb(connectRefusal(3, 'connection closed during login'), null); return }
          record('connect', outcome.refusal.reason, client, { address, username, detail: outcome.refusal.detail })
          // a lockout is a (temporary) ban; too many logins in progress is a busy server
          cb(outcome.refusal.reason === 'login-throttled'
            ? connectRefusal(3, 'too many failed logins, try later', V5.BANNED)
            : connectRefusal(3, 'too many logins in progress, try later', V5.SERVER_BUSY), null)
        }, (err: unknown) => cb(connectRefusal(3, (err as Error).message), null))
      },

      authorizePublish (client, packet, cb, next) {
        if (client === null || isStoredWill(packet) || isWillOf(client, packet)) {
          next(client, packet, cb)
          return
        }
        // (a UTF-16 unit is at most 3 UTF-8 bytes: most topics need no counting)
        if (packet.topic.length * 3 > cfg.maxTopicLength && Buffer.byteLength(packet.topic) > cfg.maxTopicLength) {
          refusal.publish(client, packet, { reason: 'topic-too-long', detail: `topic longer than ${cfg.maxTopicLength} bytes` }, cb)
          return
        }
        const rate = cfg.publishRate
        if (rate.perSecond > 0) {
          let bucket = publishBuckets.get(client)
          if (bucket === undefined) { bucket = new TokenBucket(rate, Date.now()); publishBuckets.set(client, bucket) }
          if (rate.onExcess === 'delay') {
            // holding the callback back also stops aedes reading the socket: TCP slows the client down
            const wait = bucket.takeWithDelay(Date.now())
            if (wait > 0) {
              stats.publishDelayed++
              setTimeout(() => next(client, packet, cb), wait)
              return
            }
          } else if (!bucket.tryTake(Date.now())) {
            const detail = `more than ${rate.perSecond}/s (burst ${rate.burst})`
            refusal.publish(client, packet, { reason: 'publish-rate', mode: rate.onExcess, detail }, cb)
            return
          }
        }
        next(client, packet, cb)
      },

      authorizeSubscribe (client, sub, cb, next) {
        const topic = sub.topic
        if (Buffer.byteLength(topic) > cfg.maxTopicLength) {
          record('subscribe', 'topic-too-long', client, { topic, qos: sub.qos, detail: `filter longer than ${cfg.maxTopicLength} bytes` })
          cb(null, null)
          return
        }
        const held = subscriptions.count(client)
        if (cfg.maxSubscriptionsPerClient > 0 && held >= cfg.maxSubscriptionsPerClient && !subscriptions.has(client, topic)) {
          const detail = `${held} subscriptions already (limit ${cfg.maxSubscriptionsPerClient})`
          record('subscribe', 'max-subscriptions', client, { topic, qos: sub.qos, detail })
          cb(null, null)
          return
        }
        next(client, sub, (err, granted) => {
          if (err === null && granted !== undefined && granted !== null) subscriptions.add(client, topic)
          cb(err, granted)
        })
      },

      authorizeForward (client, packet, next) {
        return isRepeatDelivery(client, packet) ? null : next(client, packet)
      }
    }
  }
}
