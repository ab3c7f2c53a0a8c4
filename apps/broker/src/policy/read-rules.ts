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
  const grants = resolveGrants(identity, roles)
  const trie = new FilterTrie<true>()
  for (const g of grants) trie.set(g, true)
  const readsAllPlain = grants.includes('#')
  const ownReplies = replies !== undefined ? replyTopicOf(replies, identity.clientId) : undefined
  return {
    grants,
    readsAllPlain,
    replies,
    canRead (topic: string): boolean {
      if (replies !== undefined) {
        const r = mayReadReply(replies, identity, topic)
        if (r !== undefined) return r
      }
      if (readsAllPlain && topic.charCodeAt(0) !== 36) return true
      return trie.match(topic) === true
    },
    canSubscribe (filter: string): boolean {
      if (replies !== undefined) {
        const r = maySubscribeReply(replies, identity, filter)
        if (r !== undefined) return r
        if (ownReplies !== undefined && filtersIntersect(filter, ownReplies + '#')) return true
      }
      for (const g of grants) if (filtersIntersect(filter, g)) return true
      return false
    }
  }
}
