// One shared subscription as a process sees it: its members (a replica in a cluster), whose turn it is,
// and what this process delivered to each.
import type { ShareFilter } from '../policy/share-filter.js'
import type { MemberRecord, Members } from './types.js'

export interface GroupCounts {
  /** messages handed to a member by this process */
  delivered: number
  /** of those, messages a member had not acknowledged when it went away, handed to another */
  redelivered: number
  /** messages put in the group's queue because no member was connected */
  queued: number
  /** messages no member got: none connected and none to keep them for, the queue full, or nobody may read them */
  dropped: number
}

export class Group {
  readonly members: Members = new Map()
  readonly counts: GroupCounts = { delivered: 0, redelivered: 0, queued: 0, dropped: 0 }
  /** messages this process handed to each member */
  readonly deliveredTo = new Map<string, number>()
  private order: string[] = []
  private cursor = 0

  constructor (readonly share: ShareFilter) {}

  get key (): string { return this.share.key }

  set (clientId: string, rec: MemberRecord): void {
    if (!this.members.has(clientId)) this.order.push(clientId)
    this.members.set(clientId, rec)
  }

  delete (clientId: string): boolean {
    if (!this.members.delete(clientId)) return false
    const at = this.order.indexOf(clientId)
    this.order.splice(at, 1)
    // the member after it keeps its turn
    if (at < this.cursor) this.cursor--
    this.deliveredTo.delete(clientId)
    return true
  }

  /** takes another process's view of the members (cluster sync), keeping the turn of those that stay */
  replace (members: Members): void {
    for (const id of [...this.members.keys()]) if (!members.has(id)) this.delete(id)
    for (const [id, rec] of members) this.set(id, rec)
  }

  /** Round robin: the next member, after the last one chosen, that `eligible` accepts. */
  pick (eligible: (clientId: string, rec: MemberRecord) => boolean): string | undefined {
    const n = this.order.length
    for (let i = 0; i < n; i++) {
      const at = (this.cursor + i) % n
      const id = this.order[at] as string
      const rec = this.members.get(id)
      if (rec !== undefined && eligible(id, rec)) {
        this.cursor = (at + 1) % n
        return id
      }
    }
    return undefined
  }

  /** a member is connected somewhere */
  get connected (): boolean {
    for (const m of this.members.values()) if (m.broker !== null) return true
    return false
  }

  /** QoS 1/2 messages are kept while no member is connected only for groups with persistent QoS>0 members */
  get keepsMessages (): boolean {
    for (const m of this.members.values()) if (m.persistent && m.qos > 0) return true
    return false
  }

  countDelivery (clientId: string, redelivered: boolean): void {
    this.counts.delivered++
    if (redelivered) this.counts.redelivered++
    this.deliveredTo.set(clientId, (this.deliveredTo.get(clientId) ?? 0) + 1)
  }
}
