// The consumer groups of a cluster as one list: every worker knows every group and its members (kept in Redis),
// but counts only what it handed out itself. One entry per group: members with the worker they are connected
// to, deliveries and in-flight copies summed over the workers; `waiting` is the group's one queue in Redis, as
// the answering worker read it (each worker reads the same list: summing would count it once per worker).
import type { GroupStats, MemberStats } from '../groups/group-stats.js'
import type { Part } from '../observe/cluster-view.js'

export type ClusterMember = MemberStats & { readonly worker: string | null }
export type ClusterGroup = Omit<GroupStats, 'members'> & { readonly members: ClusterMember[] }

/** `parts`: the answering worker's first (its reading of each queue is the one kept) */
export function mergeGroups (parts: ReadonlyArray<Part<readonly GroupStats[]>>): ClusterGroup[] {
  const byKey = new Map<string, { group: ClusterGroup, members: Map<string, ClusterMember> }>()
  for (const { data } of parts) {
    for (const g of data) {
      const key = `${g.group}\u0000${g.filter}`
      let m = byKey.get(key)
      if (m === undefined) {
        m = { group: { ...g, members: [] }, members: new Map() }
        byKey.set(key, m)
      } else {
        const s = m.group
        m.group = {
          ...s, delivered: s.delivered + g.delivered, redelivered: s.redelivered + g.redelivered, queued: s.queued + g.queued, dropped: s.dropped + g.dropped
        }
      }
      for (const mem of g.members) {
        const seen = m.members.get(mem.clientId)
        // where it is connected: as the first worker that knew it saw it (each reads the same record in Redis)
        if (seen === undefined) m.members.set(mem.clientId, { ...mem, worker: mem.broker })
        else m.members.set(mem.clientId, { ...seen, delivered: seen.delivered + mem.delivered, inflight: seen.inflight + mem.inflight })
      }
    }
  }
  return [...byKey.values()]
    .map(({ group, members }) => ({ ...group, members: [...members.values()].sort((a, b) => a.clientId.localeCompare(b.clientId)) }))
    .sort((a, b) => a.group.localeCompare(b.group) || a.filter.localeCompare(b.filter))
}
