// Topic ownership: who may publish where. Pure: (identity, topic) → Decision.
import { ALLOW, DENY_RESERVED, DENY_UNREGISTERED, type Decision, type Deny, denyNotOwner } from './decision.js'
import { FilterTrie } from './filter-trie.js'
import type { Identity } from './identity.js'

export interface Registration {
  readonly filter: string
  readonly owners: readonly string[]
}

interface CompiledRegistration {
  readonly filter: string
  readonly owners: ReadonlySet<string>
  /** owners lists '{username}': the client whose username the filter's template resolved to owns it */
  readonly templateOwner: boolean
  readonly deny: Deny
}

export type UnregisteredPolicy = 'deny' | 'allow'

export class OwnershipPolicy {
  private readonly trie = new FilterTrie<CompiledRegistration>()
  private readonly registrations = new Map<string, Registration>()
  /** bumped on every change so that per-client caches know they are stale */
  version = 0

  constructor (registrations: Iterable<Registration>, readonly unregistered: UnregisteredPolicy = 'deny') {
    for (const r of registrations) this.register(r)
  }

  get size (): number { return this.registrations.size }

  list (): Registration[] {
    return [...this.registrations.values()]
  }

  register (r: Registration): void {
    const compiled: CompiledRegistration = {
      filter: r.filter,
      owners: new Set(r.owners.filter((o) => o !== '{username}')),
      templateOwner: r.owners.includes('{username}'),
      deny: denyNotOwner(r.filter)
    }
    this.trie.set(r.filter, compiled)
    this.registrations.set(r.filter, Object.freeze({ filter: r.filter, owners: Object.freeze([...r.owners]) }))
    this.version++
  }

  unregister (filter: string): boolean {
    const removed = this.trie.delete(filter)
    this.registrations.delete(filter)
    if (removed) this.version++
    return removed
  }

  /** May `identity` publish to topic name `topic`? The most specific matching registration decides. */
  decide (identity: Identity, topic: string): Decision {
    // only the broker publishes to $SYS
    if (topic.charCodeAt(0) === 36 && (topic.startsWith('$SYS/') || topic === '$SYS')) return DENY_RESERVED
    const reg = this.trie.match(topic, identity)
    if (reg === undefined) return this.unregistered === 'allow' ? ALLOW : DENY_UNREGISTERED
    const user = identity.username
    if (user === undefined) return reg.deny
    // a template owner only ever matched through a filter template resolved with this very client
    if (reg.owners.has(user) || reg.templateOwner) return ALLOW
    return reg.deny
  }
}
