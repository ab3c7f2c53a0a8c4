// What the retained store holds, per publishing account and in all (messages, and bytes of topic and
// payload), and whether one more retained message fits the limits. Pure bookkeeping: retained-quota.ts
// feeds it from publishes and from the store at start-up.
import type { RetainedLimits } from '../config/hardening-schema.js'

interface Entry { readonly owner: string, readonly bytes: number }
interface Tally { count: number, bytes: number }

/** the owner of retained messages whose publisher is not known (a will of a dead broker, stored before) */
export const UNKNOWN_OWNER = ''

export class RetainedUsage {
  private readonly topics = new Map<string, Entry>()
  private readonly owners = new Map<string, Tally>()
  readonly total: Tally = { count: 0, bytes: 0 }

  constructor (private readonly limits: RetainedLimits) {}

  get (topic: string): Entry | undefined { return this.topics.get(topic) }
  of (owner: string): Readonly<Tally> { return this.owners.get(owner) ?? { count: 0, bytes: 0 } }

  /** why `owner` may not retain `bytes` on `topic` now (replacing what is there), or null. A change that
   * does not grow a usage is always allowed, so lowering a limit never blocks clearing or shrinking. */
  check (topic: string, owner: string, bytes: number): string | null {
    const old = this.topics.get(topic)
    const mine = this.of(owner)
    const sameOwner = old !== undefined && old.owner === owner
    const perUser = owner !== UNKNOWN_OWNER
    const ownCount = mine.count + (sameOwner ? 0 : 1)
    const ownBytes = mine.bytes - (sameOwner ? old.bytes : 0) + bytes
    const allCount = this.total.count + (old === undefined ? 1 : 0)
    const allBytes = this.total.bytes - (old?.bytes ?? 0) + bytes
    const { maxMessagesPerUser, maxBytesPerUser, maxMessages, maxBytes } = this.limits
    if (perUser && over(ownCount, mine.count, maxMessagesPerUser)) {
      return `${mine.count} retained messages of this account (limits.retained.maxMessagesPerUser ${maxMessagesPerUser})`
    }
    if (perUser && over(ownBytes, mine.bytes, maxBytesPerUser)) {
      return `${mine.bytes} + ${bytes} retained bytes of this account (limits.retained.maxBytesPerUser ${maxBytesPerUser})`
    }
    if (over(allCount, this.total.count, maxMessages)) return `${this.total.count} retained messages in all (limits.retained.maxMessages ${maxMessages})`
    if (over(allBytes, this.total.bytes, maxBytes)) return `${this.total.bytes} + ${bytes} retained bytes in all (limits.retained.maxBytes ${maxBytes})`
    return null
  }

  /** records `owner`'s retained message on `topic`, replacing the one there; returns the entry replaced */
  put (topic: string, owner: string, bytes: number): Entry | undefined {
    const old = this.remove(topic)
    this.topics.set(topic, { owner, bytes })
    const t = this.owners.get(owner) ?? { count: 0, bytes: 0 }
    t.count++
    t.bytes += bytes
    this.owners.set(owner, t)
    this.total.count++
    this.total.bytes += bytes
    return old
  }

  remove (topic: string): Entry | undefined {
    const old = this.topics.get(topic)
    if (old === undefined) return undefined
    this.topics.delete(topic)
    const t = this.owners.get(old.owner)
    if (t !== undefined) {
      t.count--
      t.bytes -= old.bytes
      if (t.count === 0) this.owners.delete(old.owner)
    }
    this.total.count--
    this.total.bytes -= old.bytes
    return old
  }

  /** puts back what `put` or `remove` replaced (a publish refused after its reservation) */
  restore (topic: string, old: Entry | undefined): void {
    if (old === undefined) this.remove(topic)
    else this.put(topic, old.owner, old.bytes)
  }
}

const over = (after: number, before: number, limit: number): boolean => limit > 0 && after > limit && after > before
