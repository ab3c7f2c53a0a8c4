// A message published after its client is gone (a will, a QoS 2 message recovered after a crash) carries the
// account that sent it, recorded when it was accepted. It is judged against that account and the registry of
// the moment it is published: a name is not an identity (a re-created account has another id).
import type { PublishPacket } from 'aedes'
import type { Account } from '../auth/user-directory.js'
import type { Audit } from '../audit/audit.js'
import type { Decision } from '../policy/decision.js'
import { createIdentity } from '../policy/identity.js'
import type { OwnershipPolicy } from '../policy/ownership.js'

/** short keys: it is stored with every such message */
export interface RecordedOwner { readonly u: string, readonly a?: string }

export type LaterDecision = Decision | { readonly allowed: false, readonly reason: 'not-authorized', readonly detail: string, readonly filter?: undefined }

export function recordOwner (account: Account): RecordedOwner {
  return account.id !== undefined ? { u: account.username, a: account.id } : { u: account.username }
}

/** `what` names the message in the refusal's detail ('will', 'message') */
export function decideRecordedOwner (
  owner: RecordedOwner | undefined, topic: string, clientId: string, accounts: ReadonlyMap<string, Account>, ownership: OwnershipPolicy, what: string
): { decision: LaterDecision, username: string | undefined } {
  if (owner === undefined || typeof owner.u !== 'string') {
    return { username: undefined, decision: { allowed: false, reason: 'not-authorized', detail: `${what} has no recorded owner` } }
  }
  const account = accounts.get(owner.u)
  if (account === undefined || account.id !== owner.a) {
    const verb = what === 'will' ? 'set the will' : 'published it'
    return { username: owner.u, decision: { allowed: false, reason: 'not-authorized', detail: ownerGone(verb, owner.a, account) } }
  }
  return { username: owner.u, decision: ownership.decide(createIdentity(account.username, clientId, account.roles), topic) }
}

/**
 * Why the account that sent a message can no longer publish it: `id` is the account's id then, `now` the
 * account under its name now. A name is kept through a password change, and through an import or a deletion
 * and creation again (another id): the detail says which, not "deleted" for all.
 */
export function ownerGone (verb: string, id: string | undefined, now: Account | undefined): string {
  if (now === undefined) return `the account that ${verb} was deleted`
  if (now.id !== id) return `the account that ${verb} was replaced by another of its name (deleted and created again, or a registry import)`
  return `the login of the account that ${verb} changed (its password or loopback rule)`
}

/** what is audited when a message published without its client is refused */
export interface LaterRefusal {
  readonly kind: 'will' | 'publish'
  readonly clientId: string | undefined
  /** the detail when the decision has none of its own */
  readonly otherwise: string
}

/**
 * A message published without its client (a dead broker's will, a QoS 2 message recovered after a crash),
 * judged by its recorded owner: true when the owner may still publish it (payload schema included); else the
 * refusal is audited and false.
 */
export function judgeLater (
  { decision, username }: { decision: LaterDecision, username: string | undefined },
  packet: Pick<PublishPacket, 'topic' | 'qos' | 'payload'>,
  { kind, clientId, otherwise }: LaterRefusal,
  audit: Audit
): boolean {
  const why = decision.allowed && decision.payload !== undefined ? decision.payload(packet.payload) : null
  if (decision.allowed && why === null) return true
  audit.record({
    kind,
    reason: decision.allowed ? 'schema-violation' : decision.reason,
    username,
    clientId,
    topic: packet.topic,
    qos: packet.qos,
    ...(decision.filter !== undefined ? { filter: decision.filter } : {}),
    detail: why ?? ('detail' in decision ? decision.detail : otherwise)
  })
  return false
}
