// Group commit: the store's writes of one event-loop turn go to LevelDB as one batch, and while a batch is
// being written the next one gathers. A caller that must not go on before its write is on disk (a message
// acknowledged to its publisher, a QoS 2 packet id about to be sent) awaits `durable()`; one that may lose
// its write in a crash (a delete after PUBACK: the message is sent again, which QoS 1 allows) does not.
//
// "On disk" means what LevelDB's write means without `sync`: in the operating system's file cache, which a
// SIGKILL of the broker does not lose (a power cut may; that was so before batching too).

/** the final state of each key in a batch: a value to put, or null to delete */
export type BatchOps = ReadonlyMap<string, Buffer | null>

export interface GroupCommit {
  put (key: string, value: Buffer): void
  del (key: string): void
  /** resolves once every write made so far is on disk (rejects if one failed: the store is broken then) */
  durable (): Promise<void>
  /** batches written and operations in them, since start */
  readonly stats: { batches: number, ops: number }
}

interface Deferred { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void }

function deferred (): Deferred {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  // a failure is also kept in `failed` for the next caller: no unhandled rejection when nobody awaits
  promise.catch(() => {})
  return { promise, resolve, reject }
}

export function createGroupCommit (write: (ops: BatchOps) => Promise<void>): GroupCommit {
  // one entry per key: a later put or delete of a key replaces the earlier one, as it would in the batch
  let pending = new Map<string, Buffer | null>()
  let next: Deferred | null = null
  let writing: Promise<void> | null = null
  let scheduled = false
  let failed: Error | null = null
  const stats = { batches: 0, ops: 0 }

  const flush = (): void => {
    scheduled = false
    if (pending.size === 0 || writing !== null) return
    const ops = pending
    pending = new Map()
    const done = next ?? deferred()
    next = null
    stats.batches++
    stats.ops += ops.size
    writing = done.promise
    write(ops).then(() => {
      writing = null
      done.resolve()
      flush()
    }, (err: unknown) => {
      writing = null
      failed = err instanceof Error ? err : new Error(String(err))
      done.reject(failed)
      flush()
    })
  }

  const schedule = (): void => {
    if (scheduled || writing !== null) return
    scheduled = true
    setImmediate(flush)
  }

  return {
    put (key, value) { pending.set(key, value); schedule() },
    del (key) { pending.set(key, null); schedule() },
    durable () {
      if (failed !== null) return Promise.reject(failed)
      if (pending.size > 0) {
        next ??= deferred()
        return next.promise
      }
      return writing ?? Promise.resolve()
    },
    stats
  }
}
