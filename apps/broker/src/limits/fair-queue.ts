// Password verification shared fairly between source addresses: one queue per address, and the next turn
// goes to the address that has had the fewest verifications lately (a count decaying with a half-life of
// HALF_LIFE_MS) — round-robin between busy addresses, and an address new to the queue goes first rather
// than after a whole round of the busy ones. An address sending a flood of logins delays its own logins,
// not everyone else's. A bound on
// verifications running at once (scrypt is CPU and thread-pool bound) and on those of one username (a
// username guessed from many addresses is slowed down, never refused). Work whose requester has gone is
// dropped when its turn comes, unpaid.

export interface FairTask {
  readonly address: string
  readonly username: string | undefined
  /** true once nobody waits for the answer (socket closed): the task is skipped */
  cancelled (): boolean
  /** runs the verification; `skipped` is called instead when the task is cancelled */
  run (): Promise<void>
  skipped (): void
}

export interface FairQueue {
  push (task: FairTask): void
  /** tasks waiting, all addresses */
  readonly waiting: number
  readonly running: number
}

const HALF_LIFE_MS = 10_000
/** addresses whose recent-use count is remembered; past this, the ones gone quiet are forgotten */
const MAX_SCORES = 10_000

export function createFairQueue ({ concurrency, perUser }: { concurrency: number, perUser: number }): FairQueue {
  /** insertion-ordered: the round-robin goes through the addresses in the order they got work */
  const queues = new Map<string, FairTask[]>()
  const verifyingByUser = new Map<string, number>()
  /** recent verifications per address, decayed: { value at `at` } */
  const scores = new Map<string, { value: number, at: number }>()
  let running = 0
  let waiting = 0

  const scoreOf = (address: string, now: number): number => {
    const s = scores.get(address)
    return s === undefined ? 0 : s.value * 0.5 ** ((now - s.at) / HALF_LIFE_MS)
  }
  const charge = (address: string, now: number): void => {
    if (scores.size >= MAX_SCORES && !scores.has(address)) {
      for (const [a] of scores) if (!queues.has(a) && scoreOf(a, now) < 0.5) scores.delete(a)
      if (scores.size >= MAX_SCORES) scores.clear()
    }
    scores.set(address, { value: scoreOf(address, now) + 1, at: now })
  }

  const userBusy = (u: string | undefined): boolean => u !== undefined && (verifyingByUser.get(u) ?? 0) >= perUser
  const addUser = (u: string | undefined, d: number): void => {
    if (u === undefined) return
    const n = (verifyingByUser.get(u) ?? 0) + d
    if (n === 0) verifyingByUser.delete(u); else verifyingByUser.set(u, n)
  }

  /** the next task: from the least-served address whose head can run now (ties: the one served longest ago) */
  const next = (): FairTask | undefined => {
    const now = Date.now()
    let best: FairTask[] | undefined
    let bestAddress = ''
    let bestScore = Infinity
    let bestAt = Infinity
    for (const [address, q] of queues) {
      // cancelled work is dropped here, whatever the limits
      while (q.length > 0 && (q[0] as FairTask).cancelled()) { waiting--; (q.shift() as FairTask).skipped() }
      if (q.length === 0) { queues.delete(address); continue }
      if (userBusy((q[0] as FairTask).username)) continue
      const score = scoreOf(address, now)
      const at = scores.get(address)?.at ?? -Infinity
      if (score < bestScore || (score === bestScore && at < bestAt)) { best = q; bestAddress = address; bestScore = score; bestAt = at }
    }
    if (best === undefined) return undefined
    charge(bestAddress, now)
    waiting--
    const task = best.shift()
    if (best.length === 0) queues.delete(bestAddress)
    return task
  }

  const pump = (): void => {
    while (running < concurrency) {
      const task = next()
      if (task === undefined) return
      running++
      addUser(task.username, 1)
      task.run().catch(() => {}).finally(() => {
        running--
        addUser(task.username, -1)
        pump()
      })
    }
  }

  return {
    get waiting () { return waiting },
    get running () { return running },
    push (task) {
      let q = queues.get(task.address)
      if (q === undefined) { q = []; queues.set(task.address, q) }
      q.push(task)
      waiting++
      pump()
    }
  }
}
