// What `broker.shared.stats()` answers: the groups, their members, and what this process delivered to each.
import type { Attachment } from './attachment.js'
import type { Group } from './group.js'
import type { GroupQueue } from './group-queue.js'
import type { QoS } from './types.js'

export interface MemberStats {
  readonly clientId: string
  readonly qos: QoS
  readonly persistent: boolean
  readonly connected: boolean
  /** the broker process it is connected to (cluster), null while offline */
  readonly broker: string | null
  /** messages this process handed to it */
  readonly delivered: number
  /** of those, not acknowledged yet */
  readonly inflight: number
}

export interface GroupStats {
  readonly group: string
  readonly filter: string
  readonly members: readonly MemberStats[]
  readonly delivered: number
  readonly redelivered: number
  readonly queued: number
  readonly dropped: number
  /** messages waiting in the group's queue now */
  readonly waiting: number
}

export async function describeGroups (
  groups: ReadonlyMap<string, Group>, attachments: ReadonlyMap<string, Attachment>, queue: GroupQueue
): Promise<GroupStats[]> {
  const out: GroupStats[] = []
  for (const [key, g] of groups) {
    const members: MemberStats[] = [...g.members].map(([id, rec]) => {
      let inflight = 0
      for (const f of attachments.get(id)?.inflight.values() ?? []) if (f.copy.key === key) inflight++
      return {
        clientId: id, qos: rec.qos, persistent: rec.persistent, connected: rec.broker !== null, broker: rec.broker,
        delivered: g.deliveredTo.get(id) ?? 0, inflight
      }
    })
    out.push({ group: g.share.group, filter: g.share.filter, members, ...g.counts, waiting: await queue.size(key) })
  }
  return out
}
