// Password verification shared fairly between source addresses: one queue per address, served round-robin,
// so that an address sending a flood of logins delays its own logins, not everyone else's. A bound on
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

export function createFairQueue ({ concurrency, perUser }: { concurrency: number, perUser: number }): FairQueue {
  /** insertion-ordered: the round-robin goes through the addresses in the order they got work */
  const queues = new Map<string, FairTask[]>()
  const verifyingByUser = new Map<string, number>()
  let running = 0
  let waiting = 0

  const userBusy = (u: string | undefined): boolean => u !== undefined && (verifyingByUser.get(u) ?? 0) >= perUser
  const addUser = (u: string | undefined, d: number): void => {
    if (u === undefined) return
    const n = (verifyingByUser.get(u) ?? 0) + d
    if (n === 0) verifyingByUser.delete(u); else verifyingByUser.set(u, n)
  }

  /** the next task in round-robin order: the first address whose head can run now, moved to the back */
  const next = (): FairTask | undefined => {
    // over a copy of the keys: an address moved to the back must not come round again in this pass
    for (const address of [...queues.keys()]) {
      const q = queues.get(address) as FairTask[]
      // cancelled work is dropped here, whatever the limits
      while (q.length > 0 && (q[0] as FairTask).cancelled()) { waiting--; (q.shift() as FairTask).skipped() }
      queues.delete(address)
      if (q.length === 0) continue
      queues.set(address, q) // to the back of the round
      if (userBusy((q[0] as FairTask).username)) continue
      waiting--
      return q.shift()
    }
    return undefined
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
