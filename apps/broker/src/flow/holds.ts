// The congested subscribers a worker knows of (its own and the other workers'), and the publishes held for
// them: a publish whose topic one of them would receive waits until all such subscribers are clear, their
// announcement expires, or maxHoldMs has passed — whichever comes first. Never longer.
//
// A subscriber that clears lets what it held go a slice at a time (`release`: bytes and publishes, one slice
// every RELEASE_MS), in the order held, and publishes it would receive that come meanwhile wait in the same
// line. Let go at once, what ten or twenty pipelining publishers had waiting (a socket read each, ~1 MB of 4 KiB
// messages) was past the flow stage before the first of it reached the subscriber's socket, so flow control
// could not hold any of it when the subscriber crossed its high-water mark again: 1.7 MB waited for a reader
// cut off at 2 MiB (flow-control-fan-in failed so in CI). A slice is small enough to be seen crossing.
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
  /** clear again: what it held goes on a slice at a time, and the entry goes once none is left */
  draining: boolean
}

interface Held {
  readonly topic: string
  readonly bytes: number
  readonly go: () => void
  readonly timer: NodeJS.Timeout
}

/** what a cleared subscriber's line lets go at a time: `bytes` (topics and payloads) and `publishes`, at least one */
export interface ReleaseSlice { readonly bytes: number, readonly publishes: number }

/** ms between two slices */
export const RELEASE_MS = 2

/** a slice where no bound gives one its size */
export const DEFAULT_SLICE: ReleaseSlice = { bytes: 256 * 1024, publishes: 256 }

export interface HoldStats {
  /** publishes that waited for a congested subscriber */
  held: number
  /** of those, released by maxHoldMs while it was still congested (or in the line of one cleared) */
  timedOut: number
  /** ms waited in all */
  heldMs: number
}

/** how often expired announcements are swept while there are any */
const SWEEP_MS = 100

/** the same filters and grants, in the same order */
function sameReach (a: Reach, b: Reach): boolean {
  return a.length === b.length && a.every(([f, g], i) => f === b[i]?.[0] && g === b[i]?.[1])
}

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
  /** the next slice of a cleared subscriber's line, while there is one */
  private pump: NodeJS.Timeout | undefined
  private letting = false
  /**
   * Where the last slice stopped: `next`, then the rest of `it` (a Set iterator sees what is held later, and
   * skips what went meanwhile). What it passed over was held by a congested subscriber, and stays so until
   * one is cleared or announced with another reach, which bumps `gen`: a slice starts again from the oldest
   * then. Without it, every slice of a line looked again at all that congested subscribers held ahead of it.
   */
  private cursor: { readonly gen: number, readonly it: Iterator<Held>, readonly next: Held } | undefined
  private gen = 0
  readonly stats: HoldStats = { held: 0, timedOut: 0, heldMs: 0 }

  /**
   * `replyOwner`: the client whose reply topic a topic lies under (config `replies`), which alone receives it
   * whatever the others' subscriptions and grants say: only its own announcement holds a publish there.
   * `release`: what a cleared subscriber's line lets go at a time.
   */
  constructor (
    private readonly maxHoldMs: number,
    private readonly replyOwner?: (topic: string) => string | undefined,
    private readonly release: ReleaseSlice = DEFAULT_SLICE
  ) {}

  /** `key` is congested for `ttlMs` unless renewed */
  set (key: string, reach: Reach, ttlMs: number): void {
    // more congested never lets anything go; another reach may
    const old = this.entries.get(key)
    if (old !== undefined && !sameReach(old.reach, reach)) this.gen++
    this.entries.set(key, { reach, expiresAt: Date.now() + ttlMs, draining: false })
    this.sweep ??= setInterval(() => this.expire(), SWEEP_MS)
    this.sweep.unref()
  }

  /** `key` is clear: the publishes held for it alone go on, a slice at a time */
  clear (key: string): void {
    const e = this.entries.get(key)
    if (e === undefined || e.draining) return
    e.draining = true
    this.gen++
    this.letGo()
  }

  /** the keys held for now, for status */
  get congested (): readonly string[] {
    const keys: string[] = []
    for (const [key, e] of this.entries) if (!e.draining) keys.push(key)
    return keys
  }

  /** a congested subscriber would receive `topic` */
  blocks (topic: string): boolean { return this.reached(topic, false) }

  /** a congested subscriber, or one whose line is still being let go, would receive `topic` */
  private reached (topic: string, orDraining: boolean): boolean {
    if (this.entries.size === 0) return false
    const owner = this.replyOwner?.(topic)
    for (const [key, e] of this.entries) {
      if (e.draining && !orDraining) continue
      // keys are `<brokerId>\u0000<clientId>` (flow-control.ts)
      if (owner !== undefined && key.slice(key.indexOf('\u0000') + 1) !== owner) continue
      if (reaches(e.reach, topic)) return true
    }
    return false
  }

  /**
   * `go(true)` once a held publish of `bytes` (topic and payload) may go on, at most maxHoldMs from now;
   * `go(false)` at once when no congested subscriber, nor the line of one cleared, would receive `topic`
   */
  hold (topic: string, bytes: number, go: (held: boolean) => void): void {
    if (!this.reached(topic, true)) { go(false); return }
    const since = Date.now()
    const h: Held = {
      topic,
      bytes,
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

  /** lets everything held go at once (shutdown) */
  close (): void {
    clearInterval(this.sweep)
    this.sweep = undefined
    clearTimeout(this.pump)
    this.pump = undefined
    this.cursor = undefined
    this.entries.clear()
    for (const h of this.held) { clearTimeout(h.timer); h.go() }
    this.held.clear()
  }

  /** an announcement not renewed in time counts as cleared */
  private expire (): void {
    const now = Date.now()
    let changed = false
    for (const e of this.entries.values()) if (!e.draining && e.expiresAt <= now) { e.draining = true; changed = true }
    if (changed) { this.gen++; this.letGo() }
    if (this.entries.size === 0) { clearInterval(this.sweep); this.sweep = undefined }
  }

  /**
   * Lets go the next slice of what no congested subscriber holds, oldest first, and comes back for the next
   * in RELEASE_MS. A publish let go can make a subscriber congested again before the loop's next turn (its
   * write crosses the high-water mark, set() at once): what it would receive waits again from there. With
   * nothing left to let go, the cleared subscribers' lines end.
   */
  private letGo (): void {
    // (a publish let go can clear another subscriber: the next slice sees what that lets go, from the oldest)
    if (this.pump !== undefined || this.letting) return
    this.letting = true
    try { this.slice() } finally { this.letting = false }
  }

  private slice (): void {
    const gen = this.gen
    const from = this.cursor?.gen === gen ? this.cursor : undefined
    this.cursor = undefined
    const it = from?.it ?? this.held.values()
    let first = from !== undefined && this.held.has(from.next) ? from.next : undefined
    let bytes = 0
    let publishes = 0
    for (;;) {
      let h = first
      first = undefined
      if (h === undefined) {
        const n = it.next()
        if (n.done === true) break
        h = n.value
      }
      if (this.blocks(h.topic)) continue
      if (publishes > 0 && (bytes + h.bytes > this.release.bytes || publishes >= this.release.publishes)) {
        this.cursor = { gen, it, next: h }
        this.later()
        return
      }
      bytes += h.bytes
      publishes++
      this.held.delete(h)
      clearTimeout(h.timer)
      h.go()
      // it cleared a subscriber (or announced another reach): what that frees, this pass may have passed over
      // already, ahead of what comes next: the next slice looks again from the oldest
      if (this.gen !== gen && this.held.size > 0) { this.later(); return }
    }
    for (const [key, e] of this.entries) if (e.draining) this.entries.delete(key)
  }

  /** the next slice in RELEASE_MS */
  private later (): void {
    this.pump = setTimeout(() => { this.pump = undefined; this.letGo() }, RELEASE_MS)
  }
}
