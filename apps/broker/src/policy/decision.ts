// Decisions of the pure security rules; turned into aedes hook behaviour by broker/hooks.ts.

export type DenyReason =
  | 'not-owner' // a registration matches, but does not name the client
  | 'unregistered' // no registration matches and unregisteredTopics is deny
  | 'reserved-topic' // $SYS and other broker-only topics
  | 'not-granted' // no read grant of the client's roles matches
  | 'bad-credentials'
  | 'not-authorized' // e.g. anonymous refused, loopback-only account from afar, will on a topic not owned
  | 'identifier-rejected'

export interface Allow { readonly allowed: true }
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
