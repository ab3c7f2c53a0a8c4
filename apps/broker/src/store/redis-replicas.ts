// Acknowledgements that survive a Redis failover (`redis.waitForReplicas`). Redis replicates asynchronously:
// a master that dies a moment after a write takes with it what its replicas had not received, and with
// Sentinel the promoted replica carries on without it — so a message acknowledged to its publisher then is
// lost. With `waitForReplicas: N`, the store writes an acknowledgement depends on (a queued message, a
// retained one, an incoming QoS 2 packet and its release, a subscription) resolve only once N replicas have
// them (Redis WAIT), so PUBACK, PUBREC, PUBCOMP, SUBACK and UNSUBACK are sent after that; fewer replicas within
// `replicaTimeoutMs` fail the write: aedes then closes the client without the acknowledgement, and its
// publisher sends the message again (to the new master, after a failover).
//
// WAIT covers the writes of the connection it is sent on, and the store writes on connections of its own.
// Redis applies every write in one order, and its replication offset follows that order: a write sent once
// the store's writes have been answered comes after them, so waiting for that write — a fence, on a
// connection of this module's — waits for them. One fence serves every write answered since the last one was
// sent (an event-loop turn), whatever their number.
import type { Redis } from 'ioredis'
import type { AedesStore } from '../aedes/store.js'
import { fn, patch } from '../aedes/patch.js'

/** a key of its own (U+0000: no MQTT topic, and so no Redis channel of the bus, can name it) */
const FENCE_KEY = 'warden:replication\u0000fence'

export interface ReplicaOptions {
  readonly count: number
  readonly timeoutMs: number
  /** fewer replicas answered in time than `count` (once per short fence) */
  onShort (got: number): void
}

export interface ReplicaFence {
  /** resolves once `count` replicas have every write answered before the call; rejects when fewer do in time */
  after (): Promise<void>
  close (): void
}

export function createReplicaFence (conn: Redis, opts: ReplicaOptions): ReplicaFence {
  let next: Promise<void> | undefined
  const send = async (): Promise<void> => {
    next = undefined // a write answered from now on needs a later fence
    const res = await conn.pipeline().incr(FENCE_KEY).wait(opts.count, opts.timeoutMs).exec()
    const [incr, wait] = res ?? []
    if (incr?.[0] != null) throw incr[0]
    if (wait?.[0] != null) throw wait[0]
    const got = Number(wait?.[1])
    if (got < opts.count) {
      opts.onShort(got)
      throw new Error(`${got} of ${opts.count} Redis replicas acknowledged within ${opts.timeoutMs} ms (redis.waitForReplicas)`)
    }
  }
  return {
    after () {
      next ??= new Promise<void>((resolve) => setImmediate(resolve)).then(send)
      return next
    },
    close () { conn.disconnect() }
  }
}

const WHY = 'Redis replicates asynchronously: an acknowledged write can be lost in a failover (redis.waitForReplicas)'

/** The store methods whose completion an acknowledgement waits for, each resolved only past a fence. */
export function ackAfterReplicas (store: AedesStore, fence: ReplicaFence): void {
  type Write = (...a: unknown[]) => Promise<unknown>
  const behind = (write: Write): Write => async (...a) => {
    const r = await write(...a)
    await fence.after()
    return r
  }
  // arities of aedes-persistence's callback layer (a callback, or a promise when there is none)
  const methods = [
    ['outgoingEnqueueCombi', 3], ['outgoingEnqueue', 3], ['storeRetained', 2], ['incomingStorePacket', 3], ['incomingDelPacket', 3],
    ['addSubscriptions', 3], ['removeSubscriptions', 3]
  ] as const
  for (const [name, arity] of methods) {
    patch(store, name, fn(arity), (write) => behind(write as Write) as typeof write, WHY, 'persistence')
  }
}
