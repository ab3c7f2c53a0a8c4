// The cluster bus's PUBLISHes of one event-loop turn, sent to Redis as one script call on the bus's own
// connection. Profiled (persistent pairs, QoS 1, one worker): ioredis spends about 9 µs of the broker's CPU
// on each command — its command object, the auto-pipeline, a promise and its callback — where the message's
// bytes cost well under one; the bus's PUBLISH was the one command per message left once the store batched
// its writes (redis-batch.ts). Redis runs one connection's commands in order, and a script's commands in
// its order, so the messages still reach Redis, and every other process, in the order they were emitted;
// each emit still resolves only once Redis has answered the call that carried its message (or rejects with
// its error, as a PUBLISH refused would).
import type { Redis } from 'ioredis'
import { packItems } from './redis-batch.js'

// ARGV[1]: a msgpack array of channel, message, channel, message … (packItems: each a msgpack string, which a
// Lua string holds whatever its bytes)
export const BUS_SCRIPT = `
local t = cmsgpack.unpack(ARGV[1])
for i = 1, #t, 2 do redis.call('PUBLISH', t[i], t[i + 1]) end
return #t / 2`

/** messages per script call at most (a script holds Redis while it runs), and bytes */
const MAX_MESSAGES = 512
const MAX_BYTES = 1 << 20

export type BusPublish = (channel: string, message: Buffer) => Promise<unknown>

export interface BusBatch {
  readonly publish: BusPublish
  /** script calls made and messages in them, since start */
  readonly stats: { readonly batches: number, readonly messages: number }
}

type Script = (numKeys: number, items: Buffer) => Promise<unknown>
interface Pending { items: Array<string | Buffer>, bytes: number, done: Promise<void>, resolve: () => void, reject: (err: Error) => void }

export function createBusBatch (conn: Redis): BusBatch {
  conn.defineCommand('wardenBusPublish', { lua: BUS_SCRIPT })
  const run = (conn as unknown as { wardenBusPublish: Script }).wardenBusPublish.bind(conn)
  const stats = { batches: 0, messages: 0 }
  let next: Pending | null = null

  const flush = (): void => {
    const b = next
    next = null
    if (b === null) return
    stats.batches++
    stats.messages += b.items.length / 2
    run(0, packItems(b.items)).then(() => b.resolve(), (err: unknown) => b.reject(err instanceof Error ? err : new Error(String(err))))
  }

  const publish: BusPublish = (channel, message) => {
    if (next === null) {
      let resolve!: () => void
      let reject!: (err: Error) => void
      const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
      next = { items: [], bytes: 0, done, resolve, reject }
      setImmediate(flush)
    }
    const b = next
    b.items.push(channel, message)
    b.bytes += message.length
    if (b.items.length >= 2 * MAX_MESSAGES || b.bytes >= MAX_BYTES) flush()
    return b.done
  }
  return { publish, stats }
}
