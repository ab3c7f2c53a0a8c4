// The congested subscribers a worker knows of (its own and the other workers'), and the publishes held for
// them: a publish whose topic one of them would receive waits until all such subscribers are clear, their
// announcement expires, or maxHoldMs has passed — whichever comes first. Never longer.
import { matchTopic } from '../policy/topic.js'

/**
 * What a congested subscriber receives: each entry a subscription filter, and the read grant it is narrowed
 * by when the grant does not cover it (a topic must match both). `$share/` filters are given as their inner
 * filter.
 */
export type Reach = ReadonlyArray<readonly [filter: string, grant?: string]>

interface Entry {
  readonly reach: Reach
  expiresAt: number
}

interface Held {
  readonly topic: string
  readonly go: () => void
  readonly timer: NodeJS.Timeout
}

export interface HoldStats {
  /** publishes that waited for a congested subscriber */
  held: number
  /** of those, released by maxHoldMs while it was still congested */
  timedOut: number
  /** ms waited in all */
  heldMs: number
}

/** how often expired announcements are swept while there are any */
const SWEEP_MS = 100

export function reaches (reach: Reach, topic: string): boolean {
  for (const [filter, grant] of reach) {
    if (matchTopic(filter, topic) && (grant === undefined || matchTopic(grant, topic))) return true
  }
  return false
}

export class Holds {
  private readonly entries = new Map<string, Entry>()
  private readonly held = new Set<Held>()
  private sweep: NodeJS.Timeout | undefined
  readonly stats: HoldStats = { held: 0, timedOut: 0, heldMs: 0 }

  /** `replyOwner`: the client whose reply topic a topic lies under (config `replies`), which alone receives it
   * whatever the others' subscriptions and grants say: only its own announcement holds a publish there */
  constructor (private readonly maxHoldMs: number, private readonly replyOwner?: (topic: string) => string | undefined) {}

  /** `key` is congested for `ttlMs` unless renewed */
  set (key: string, reach: Reach, ttlMs: number): void {
    this.entries.set(key, { reach, expiresAt: Date.now() + ttlMs })
    this.sweep ??= setInterval(() => this.expire(), SWEEP_MS)
    this.sweep.unref()
  }

  /** `key` is clear: the publishes held for it alone go on */
  clear (key: string): void {
    if (this.entries.delete(key)) this.recheck()
  }

  /** the keys held for now, for status */
  get congested (): readonly string[] { return [...this.entries.keys()] }

  blocks (topic: string): boolean {
    if (this.entries.size === 0) return false
    const owner = this.replyOwner?.(topic)
    for (const [key, e] of this.entries) {
      // keys are `<brokerId>\u0000<clientId>` (flow-control.ts)
      if (owner !== undefined && key.slice(key.indexOf('\u0000') + 1) !== owner) continue
      if (reaches(e.reach, topic)) return true
    }
    return false
  }

  /** runs `go` at once, or once no congested subscriber would receive `topic` (at most maxHoldMs from now) */
  /** `go(true)` once a held publish may go on; `go(false)` at once when nothing holds it */
  hold (topic: string, go: (held: boolean) => void): void {
    if (!this.blocks(topic)) { go(false); return }
    const since = Date.now()
    const h: Held = {
      topic,
      go: () => { this.stats.heldMs += Date.now() - since; go(true) },
      timer: setTimeout(() => {
        this.held.delete(h)
        this.stats.timedOut++
        h.go()
      }, this.maxHoldMs)
    }
    this.stats.held++
    this.held.add(h)
  }

  /** lets everything held go (shutdown) */
  close (): void {
    clearInterval(this.sweep)
    this.sweep = undefined
    this.entries.clear()
    this.recheck()
  }

  private expire (): void {
    const now = Date.now()
    let changed = false
    for (const [key, e] of this.entries) if (e.expiresAt <= now) { this.entries.delete(key); changed = true }
    if (this.entries.size === 0) { clearInterval(this.sweep); this.sweep = undefined }
    if (changed) this.recheck()
  }

  private recheck (): void {
    for (const h of this.held) {
      if (this.blocks(h.topic)) continue
      this.held.delete(h)
      clearTimeout(h.timer)
      h.go()
    }
  }
}
