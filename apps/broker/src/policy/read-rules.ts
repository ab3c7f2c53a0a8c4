// Read rights: which topics a client may receive, from the subscribe grants of its roles. Pure.
import { CONTROL_RESPONSE_FILTER, isControlTopic } from './control-topics.js'
import { FilterTrie } from './filter-trie.js'
import type { Identity } from './identity.js'
import { mayReadReply, maySubscribeReply, replyTopicOf, type ReplyNamespace } from './reply-topics.js'
import { filtersIntersect, resolveFilter } from './topic.js'

export interface RoleGrants {
  readonly subscribe: readonly string[]
}

export type RoleTable = Readonly<Record<string, RoleGrants>>

/** The role table now, and a version that grows with every change to it (roles change at run time). */
export interface RoleSource {
  readonly table: RoleTable
  readonly version: number
}

export interface Reader {
  /** the client's grants with templates resolved */
  readonly grants: readonly string[]
  /** holds '#': every topic not starting with '$' is readable, but under the reply namespace (reply-topics.ts) */
  readonly readsAllPlain: boolean
  readonly replies: ReplyNamespace | undefined
  canRead (topic: string): boolean
  /** SUBSCRIBE check: false when `filter` can match nothing the client may read */
  canSubscribe (filter: string): boolean
}

/**
 * The effective grants of an identity: its roles' grants, templates resolved; $SYS only for admin/observer,
 * $CONTROL only for admins (who implicitly read the control plane's answers).
 */
export function resolveGrants (identity: Identity, roles: RoleTable): string[] {
  const out = new Set<string>()
  if (identity.admin) {
    out.add('#')
    out.add('$SYS/#')
    out.add(CONTROL_RESPONSE_FILTER)
  }
  for (const role of identity.roles) {
    for (const g of roles[role]?.subscribe ?? []) {
      const r = resolveFilter(g, identity)
      if (r === null) continue
      if (r.startsWith('$SYS') && !(identity.admin || identity.observer)) continue
      // control-plane answers list users and clients: admins only, whatever a role grants
      if (isControlTopic(r) && !identity.admin) continue
      out.add(r)
    }
  }
  return [...out]
}

/** `replies`: the reply namespace, where only the client whose reply topic it is reads (reply-topics.ts) */
export function createReader (identity: Identity, roles: RoleTable, replies?: ReplyNamespace): Reader {
  return new GrantReader(identity, resolveGrants(identity, roles), replies)
}

/**
 * One per connected client, so its methods sit on the prototype and its trie of grants is built at the first
 * read that needs one: a device that only publishes, or a subscriber idle until then, never builds one.
 */
class GrantReader implements Reader {
  readonly readsAllPlain: boolean
  private trie: FilterTrie<true> | undefined

  constructor (private readonly identity: Identity, readonly grants: readonly string[], readonly replies: ReplyNamespace | undefined) {
    this.readsAllPlain = grants.includes('#')
  }

  canRead (topic: string): boolean {
    if (this.replies !== undefined) {
      const r = mayReadReply(this.replies, this.identity, topic)
      if (r !== undefined) return r
    }
    if (this.readsAllPlain && topic.charCodeAt(0) !== 36) return true
    if (this.trie === undefined) {
      this.trie = new FilterTrie<true>()
      for (const g of this.grants) this.trie.set(g, true)
    }
    return this.trie.match(topic) === true
  }

  canSubscribe (filter: string): boolean {
    const replies = this.replies
    if (replies !== undefined) {
      const r = maySubscribeReply(replies, this.identity, filter)
      if (r !== undefined) return r
      const ownReplies = replyTopicOf(replies, this.identity.clientId)
      if (ownReplies !== undefined && filtersIntersect(filter, ownReplies + '#')) return true
    }
    for (const g of this.grants) if (filtersIntersect(filter, g)) return true
    return false
  }
}
