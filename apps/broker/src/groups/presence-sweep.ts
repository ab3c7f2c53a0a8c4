// Finds, every 10 s, the broker processes of a cluster that are gone by their presence: a process that has not said
// it is alive for PRESENCE_TTL_MS (its beat, every 5 s: cluster-link.ts) and no longer listens on Redis. Its members
// are then marked offline, and what it held for clean members is given to others (consumer-groups.ts reap). Most
// such processes are found within a second and a half by dead-watch.ts (the same evidence, every half second);
// this sweep finds the rest: one dead while its finder could not tell (Redis restarting, a reconnection). A sweep
// that finds none gone empties the queues of groups with members connected (consumer-groups.ts sweep).
//
// A process silent but still listening (PUBSUB NUMSUB of its live channel, one command for all those silent, as the
// dead-watch asks) is alive but stopped: SIGSTOP, a long GC pause, a VM stall. It keeps its members: taken for dead,
// its clean members' copies were given to others (twice, once it resumed), and a group with no other member lost its
// queue with its last member. It is reaped after all once silent for STOPPED_MAX_MS more: Redis keeps the
// connections of a process whose host vanished (power lost, a network cut) until its `tcp-keepalive` gives up, ten
// minutes or more, past which the copies it held for clean members would have expired from Redis (held-copies.ts).
// Every process that ever had a presence listens on its live channel (from the first Warden with a link on): one
// that does not is gone, whatever its version. No process is reaped while this one's own subscription is missing.
import type { Redis } from 'ioredis'

export const SWEEP_MS = 10_000
/** a process silent but listening is taken for gone once seen so for this long (well within HELD_TTL_MS) */
export const STOPPED_MAX_MS = 120_000

/** `stopped`: silent but listening, kept; `resumed`: heard of again; `given-up`: silent for too long, taken for gone */
export type SilentState = 'stopped' | 'resumed' | 'given-up'

export interface PresenceSweepDeps {
  redis: Redis
  self: string
  /** the channel a live process's bus subscribes to */
  channelOf: (broker: string) => string
  /** the processes that said they were alive within PRESENCE_TTL_MS */
  live: () => Promise<ReadonlySet<string>>
  /** the processes to check (those with members, as this process knows) */
  candidates: () => Iterable<string>
  /** each sweep: `gone`, the processes to reap (often none) */
  onSweep: (gone: readonly string[]) => Promise<void>
  onSilent?: (broker: string, state: SilentState) => void
  onError: (err: unknown) => void
  /** SWEEP_MS unless told */
  everyMs?: number
  /** STOPPED_MAX_MS unless told */
  stoppedMaxMs?: number
}

export interface PresenceSweep { close (): void }

export function createPresenceSweep (deps: PresenceSweepDeps): PresenceSweep {
  const { redis, self, channelOf, everyMs = SWEEP_MS, stoppedMaxMs = STOPPED_MAX_MS } = deps
  /** since when each process silent but listening is seen so */
  const stopped = new Map<string, number>()
  let busy = false
  /** closed (the broker shutting down): a sweep in flight acts on nothing */
  let closed = false

  /** of the silent `brokers`, those gone */
  const goneOf = async (silent: readonly string[]): Promise<string[]> => {
    if (silent.length === 0) return []
    const counts = await redis.pubsub('NUMSUB', channelOf(self), ...silent.map(channelOf)) as unknown[]
    // this process's own subscription missing (Redis restarted, its bus reconnecting): no evidence about others
    if (Number(counts[1]) === 0) return []
    const now = Date.now()
    return silent.filter((b, i) => {
      if (Number(counts[2 * i + 3]) === 0) { stopped.delete(b); return true }
      const since = stopped.get(b)
      if (since === undefined) {
        stopped.set(b, now)
        deps.onSilent?.(b, 'stopped')
        return false
      }
      if (now - since < stoppedMaxMs) return false
      deps.onSilent?.(b, 'given-up')
      return true
    })
  }

  const sweep = async (): Promise<void> => {
    const live = await deps.live()
    const silent = [...new Set(deps.candidates())].filter((b) => b !== self && !live.has(b))
    for (const b of [...stopped.keys()]) {
      if (silent.includes(b)) continue
      stopped.delete(b)
      if (live.has(b)) deps.onSilent?.(b, 'resumed')
    }
    const gone = await goneOf(silent)
    if (!closed) await deps.onSweep(gone)
  }
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    sweep().catch(deps.onError).finally(() => { busy = false })
  }, everyMs)
  timer.unref()
  return {
    close () {
      closed = true
      clearInterval(timer)
    }
  }
}
