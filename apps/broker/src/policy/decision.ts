// Decisions of the pure security rules; turned into aedes hook behaviour by hooks/hooks.ts.

export type DenyReason =
  | 'not-owner' // a registration matches, but does not name the client
  | 'unregistered' // no registration matches and unregisteredTopics is deny
  | 'reserved-topic' // $SYS and other broker-only topics
  | 'not-granted' // no read grant of the client's roles matches
  | 'bad-credentials'
  | 'not-authorized' // e.g. anonymous refused, loopback-only account from afar, will on a topic not owned
  | 'identifier-rejected'
  | 'client-id-owned' // the client id is bound to another account's session
  | 'schema-violation' // the payload fails the JSON Schema of the registration that decided
  // limits (limits/limits.ts): resources, not rights
  | 'max-connections' | 'connection-rate' | 'max-user-connections' | 'login-throttled' | 'login-pending' | 'closed-during-connect'
  | 'packet-too-large' | 'malformed-packet' | 'tls-handshake' | 'bad-certificate'
  | 'publish-rate' | 'topic-too-long' | 'max-subscriptions' | 'queue-full' | 'slow-consumer'
  | 'retained-quota' // a retained publish past limits.retained.*: delivered, not retained
  // consumer groups (groups/): a `$share/` filter that is not $share/{group}/{filter}
  | 'bad-shared-filter'
  // cluster mode: Redis is unreachable, new connections wait for it (store/redis-health.ts)
  | 'store-unavailable'

/** Checks a payload against a registration's schema: null when it conforms, else why not. */
export type PayloadCheck = (payload: Buffer | string) => string | null

/** Plain counters of one registration, bumped per accepted publish and read by the control plane. */
export interface TopicMeter {
  messages: number
  bytes: number
  /** epoch ms of the last accepted publish, 0 for none */
  lastAt: number
}

export interface Allow {
  readonly allowed: true
  /** the registration that decided, when one did */
  readonly filter?: string
  readonly payload?: PayloadCheck
  readonly meter?: TopicMeter
}
export interface Deny {
  readonly allowed: false
  readonly reason: DenyReason
  /** the registration filter that decided, when one did */
  readonly filter?: string
}
export type Decision = Allow | Deny

export const ALLOW: Allow = Object.freeze({ allowed: true })
export const DENY_UNREGISTERED: Deny = Object.freeze({ allowed: false, reason: 'unregistered' })
export const DENY_RESERVED: Deny = Object.freeze({ allowed: false, reason: 'reserved-topic' })
export const DENY_NOT_GRANTED: Deny = Object.freeze({ allowed: false, reason: 'not-granted' })

export function denyNotOwner (filter: string): Deny {
  return Object.freeze({ allowed: false, reason: 'not-owner', filter })
}
