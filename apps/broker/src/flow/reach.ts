// What a subscriber receives, as publishers must know it to be held for it: its subscriptions, each narrowed
// by the read grants it passes through. A subscription to `#` under a grant of `devices/me/#` reaches only
// `devices/me/#`: a slow reader slows only the publishers of what it may read. Its own reply topic (config
// `replies`, policy/reply-topics.ts), which it reads whatever its grants say, counts as one more grant: the
// responders answering it are held too. Pure.
import { readFilterOf } from '../policy/share-filter.js'
import { filterCovers, filtersIntersect } from '../policy/topic.js'
import type { Reach } from './holds.js'

/** entries announced per subscriber at most; past them the rest of its subscriptions hold no one */
export const MAX_REACH = 256

/** `replyTopic`: the subscriber's reply topic (`<prefix>/<clientId>/`), when it has one */
export function reachOf (subscriptions: readonly string[], readGrants: readonly string[], readsAllPlain: boolean, replyTopic?: string): Reach {
  const grants = replyTopic === undefined ? readGrants : [...readGrants, `${replyTopic}#`]
  const out = new Map<string, readonly [string, string?]>()
  const add = (filter: string, grant?: string): void => {
    const key = grant === undefined ? filter : `${filter}\u0000${grant}`
    if (out.size < MAX_REACH && !out.has(key)) out.set(key, grant === undefined ? [filter] : [filter, grant])
  }
  for (const sub of subscriptions) {
    const filter = readFilterOf(sub)
    if (readsAllPlain && filter.charCodeAt(0) !== 36) { add(filter); continue }
    if (grants.some((g) => filterCovers(g, filter))) { add(filter); continue }
    for (const g of grants) {
      if (filterCovers(filter, g)) add(g)
      else if (filtersIntersect(filter, g)) add(filter, g)
    }
  }
  return [...out.values()]
}
