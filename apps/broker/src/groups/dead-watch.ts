// Finds the broker processes of a cluster that died outright (SIGKILL, out of memory) within about a second and
// a half, where the presence sweep (presence-sweep.ts) takes 20 to 30 s: their members are then marked offline, and
// what they held for clean members is given to others (consumer-groups.ts reap).
//
// The evidence is the hand-over's (cluster-link.ts): Redis drops a dead process's connections at once, so its
// bus no longer subscribes to its own link channel (PUBSUB NUMSUB, one command for every process watched). A
// process alive but stopped (SIGSTOP, a long GC pause) keeps its connections and is not found dead, here nor by the
// presence sweep, which asks the same of a process silent past its presence TTL (for two minutes more at most); a
// presence key with a short TTL would find it dead, and CLIENT LIST costs a scan of every connection (and may be
// denied by an ACL). Redis restarted, every process's subscriptions come back one by one: no process is found dead
// while this one's own subscription is missing, nor within RECONNECT_GRACE_MS of its own reconnection. A
// process whose Redis connection alone was lost for longer than DEAD_GRACE_MS is found dead although alive: it
// learns so at its next beat (reapedKey) and records its members again.
import type { Redis } from 'ioredis'

export const TICK_MS = 500
/** seen not listening for this long (at every check meanwhile): dead */
export const DEAD_GRACE_MS = 1000
/** after this process's own Redis connection came back: the others may not have resubscribed yet */
const RECONNECT_GRACE_MS = 5000

export interface DeadWatchDeps {
  redis: Redis
  self: string
  /** the channel a live process's bus subscribes to */
  channelOf: (broker: string) => string
  /** the processes to watch (those with members, as this process knows) */
  candidates: () => Iterable<string>
  onDead: (broker: string) => Promise<void>
  /** onDead failed (it is tried again at a later check) */
  onError: (err: unknown) => void
}

export interface DeadWatch { close (): void }

export function createDeadWatch (deps: DeadWatchDeps): DeadWatch {
  const { redis, self, channelOf } = deps
  /** since when each watched process is seen not listening */
  const absent = new Map<string, number>()
  /** found dead: not again until seen listening */
  const dead = new Set<string>()
  /** when this process's Redis connection last came back (its first connection is no such event) */
  let readyAt = 0
  let connected = redis.status === 'ready'
  const onReady = (): void => {
    if (connected) { readyAt = Date.now(); absent.clear() }
    connected = true
  }
  redis.on('ready', onReady)
  let busy = false
  /** closed (the broker shutting down): a check in flight acts on nothing, so no copies are taken by a closing broker */
  let closed = false

  const tick = async (): Promise<void> => {
    const watched = [...new Set(deps.candidates())].filter((b) => b !== self)
    if (watched.length === 0) { absent.clear(); dead.clear(); return }
    const counts = await redis.pubsub('NUMSUB', channelOf(self), ...watched.map(channelOf)) as unknown[]
    if (closed) return
    const now = Date.now()
    // this process's own subscription missing (Redis restarted, or its bus reconnecting): no evidence about others
    if (Number(counts[1]) === 0 || now - readyAt < RECONNECT_GRACE_MS) { absent.clear(); return }
    for (const b of dead) if (!watched.includes(b)) dead.delete(b)
    watched.forEach((b, i) => {
      if (Number(counts[2 * i + 3]) > 0) { absent.delete(b); dead.delete(b); return }
      if (dead.has(b)) return
      const since = absent.get(b)
      if (since === undefined) { absent.set(b, now); return }
      if (now - since < DEAD_GRACE_MS) return
      absent.delete(b)
      dead.add(b)
      // tried again at a later check if it fails
      deps.onDead(b).catch((err: unknown) => { dead.delete(b); deps.onError(err) })
    })
  }
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    // a check that fails (Redis away) finds nothing: the store's health monitor reports the outage, once
    tick().catch(() => { absent.clear() }).finally(() => { busy = false })
  }, TICK_MS)
  timer.unref()
  return {
    close () {
      closed = true
      clearInterval(timer)
      redis.off('ready', onReady)
    }
  }
}
