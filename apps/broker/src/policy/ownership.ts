// Topic ownership: who may publish where. Pure: (identity, topic) → Decision.
import { ALLOW, DENY_RESERVED, DENY_UNREGISTERED, type Allow, type Decision, type Deny, denyNotOwner, type PayloadCheck, type TopicMeter } from './decision.js'
import { FilterTrie } from './filter-trie.js'
import { isInternalTopic } from './internal-topics.js'
import { mayAnswer, type ReplyNamespace } from './reply-topics.js'
import type { Identity } from './identity.js'
import { hasTemplate, resolveLevel } from './topic.js'

export interface Registration {
  readonly filter: string
  readonly owners: readonly string[]
  /** compiled from the registration's JSON Schema (registry); owners' payloads must pass it */
  readonly payload?: PayloadCheck
  /** counters the control plane keeps for this registration; carried on its Allow decisions */
  readonly meter?: TopicMeter
}

// Compiled once per registration and kept for as long as it lives: with 100k registrations every field
// counts (heap, and so garbage-collection time), hence one owner without a Set and the Deny made on demand.
interface CompiledRegistration {
  readonly filter: string
  /** the only named owner, or null */
  readonly soleOwner: string | null
  /** the named owners when there are several, or null */
  readonly owners: ReadonlySet<string> | null
  /** owners lists '{username}': the client the filter's templates resolve to (for this topic) owns it */
  readonly templateOwner: boolean
  /** [level index, template level] of every template level of the filter */
  readonly templateLevels: ReadonlyArray<readonly [number, string]>
  deny: Deny | null
  readonly allow: Allow
}

const NO_TEMPLATE_LEVELS: ReadonlyArray<readonly [number, string]> = Object.freeze([])

function denyOf (reg: CompiledRegistration): Deny {
  reg.deny ??= denyNotOwner(reg.filter)
  return reg.deny
}

export type UnregisteredPolicy = 'deny' | 'allow'

/**
 * A registration with templates stands for one registration per client: `devices/{username}/#` owned by
 * `{username}` registers devices/alice/# to alice, devices/bob/# to bob, and so on. A topic matching a
 * template registration is therefore registered, whoever publishes to it.
 */
export class OwnershipPolicy {
  private readonly trie = new FilterTrie<CompiledRegistration>()
  private readonly registrations = new Map<string, Registration>()
  /** bumped on every change so that per-client caches know they are stale */
  version = 0

  private readonly denyReply: Deny | undefined

  /** `replies`: the reply namespace (reply-topics.ts), decided before the registrations */
  constructor (registrations: Iterable<Registration>, readonly unregistered: UnregisteredPolicy = 'deny', readonly replies?: ReplyNamespace) {
    for (const r of registrations) this.register(r)
    this.denyReply = replies !== undefined ? denyNotOwner(`${replies.prefix}/+/#`) : undefined
  }

  get size (): number { return this.registrations.size }

  list (): Registration[] {
    return [...this.registrations.values()]
  }

  get (filter: string): Registration | undefined {
    return this.registrations.get(filter)
  }

  register (r: Registration): void {
    let templateLevels = NO_TEMPLATE_LEVELS
    if (hasTemplate(r.filter)) {
      const levels: Array<readonly [number, string]> = []
      r.filter.split('/').forEach((level, i) => { if (hasTemplate(level)) levels.push([i, level]) })
      templateLevels = levels
    }
    const named = r.owners.filter((o) => o !== '{username}')
    this.trie.set(r.filter, {
      filter: r.filter,
      soleOwner: named.length === 1 ? named[0] as string : null,
      owners: named.length > 1 ? new Set(named) : null,
      templateOwner: r.owners.includes('{username}'),
      templateLevels,
      deny: null,
      // a per-registration Allow carries what the hooks need per message: no lookups on the hot path.
      // One shape for all of them (payload may be undefined) keeps the hooks' property reads monomorphic
      allow: r.payload === undefined && r.meter === undefined
        ? ALLOW
        : Object.freeze({ allowed: true, filter: r.filter, payload: r.payload, meter: r.meter })
    })
    this.registrations.set(r.filter, Object.freeze({ filter: r.filter, owners: Object.isFrozen(r.owners) ? r.owners : Object.freeze([...r.owners]) }))
    this.version++
  }

  unregister (filter: string): boolean {
    const removed = this.trie.delete(filter)
    this.registrations.delete(filter)
    if (removed) this.version++
    return removed
  }

  /** the registration that decides topic name `topic` (the most specific match), if any */
  registrationOf (topic: string): string | undefined {
    return this.trie.match(topic)?.filter
  }

  /** May `identity` publish to topic name `topic`? The most specific matching registration decides. */
  decide (identity: Identity, topic: string): Decision {
    // only the broker publishes to its own topics ($SYS, $WARDEN, $CONTROL), registered or not
    if (isInternalTopic(topic)) return DENY_RESERVED
    if (this.replies !== undefined) {
      const answer = mayAnswer(this.replies, identity, topic)
      if (answer !== undefined) return answer ? ALLOW : this.denyReply as Deny
    }
    const reg = this.trie.match(topic)
    if (reg === undefined) return this.unregistered === 'allow' ? ALLOW : DENY_UNREGISTERED
    const user = identity.username
    if (user === undefined) return denyOf(reg)
    if (reg.soleOwner === user || (reg.owners !== null && reg.owners.has(user))) return reg.allow
    if (reg.templateOwner && resolvesTo(reg, identity, topic)) return reg.allow
    return denyOf(reg)
  }
}

/** True when the registration's templates, resolved with this client, give exactly the topic's levels. */
function resolvesTo (reg: CompiledRegistration, identity: Identity, topic: string): boolean {
  const levels = topic.split('/')
  for (const [i, pattern] of reg.templateLevels) {
    if (resolveLevel(pattern, identity) !== levels[i]) return false
  }
  return true
}
