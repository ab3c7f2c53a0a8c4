// The QoS 1/2 consumer-group copies a broker process gave to members with a clean session and that they have not
// acknowledged yet, kept in Redis beside the members' connections (a hash per process). A clean member has no
// session to keep them in: if its process is killed before the member's PUBACK (PUBREC at QoS 2), another process
// that finds it dead (dead-watch.ts) takes them, once, and gives them to other members. A persistent member's
// copies are in its own session instead, resent when it reconnects.
//
// Writes of one event-loop turn go together (one HSET, one HDEL), in the order they were made, on one connection:
// a copy's removal never reaches Redis before its entry.
import type { Redis } from 'ioredis'
import { decodeBatch, encodeBatch, type Handover } from './link-batch.js'
import type { Copy } from './types.js'

/** key names with U+0000 are nothing an MQTT topic or client id can be (the packet guard refuses it) */
const heldKey = (broker: string): string => `warden:share:held:\u0000${broker}`
/** set by the process that took `broker`'s copies; `broker`, if alive after all, reads it at its next beat */
export const reapedKey = (broker: string): string => `warden:share:reaped:\u0000${broker}`
/** an entry left by a process that closed without handing them on (its Redis went first) is not kept for ever */
const HELD_TTL_MS = 600_000
const REAPED_TTL_MS = 600_000

// the copies and their removal in one step: of the processes that find the owner dead together, one gets them
const TAKE = `
local v = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return v`

export interface HeldCopies {
  /** `copy`, given to clean member `clientId`, until it acknowledges: resolves once Redis has it */
  add (clientId: string, copy: Copy): Promise<void>
  /** acknowledged, or handed on by this process itself */
  remove (clientId: string, copy: Copy): void
  /** the copies `broker` held, taken out of Redis (another call, here or on another process, finds none);
   * `by`: the process that takes them, recorded for `broker` to find should it be alive after all */
  takeAll (broker: string, by: string): Promise<Handover[]>
  close (): Promise<void>
}

const fieldOf = (clientId: string, copy: Copy): string => `${clientId}\u0000${copy.brokerId}\u0000${copy.brokerCounter}`

export function createHeldCopies (redis: Redis, self: string): HeldCopies {
  const key = heldKey(self)
  interface Waiter { resolve: () => void, reject: (err: unknown) => void }
  type Op = { kind: 'add', fields: Map<string, Buffer>, done: Waiter[] } | { kind: 'remove', fields: string[] }
  let ops: Op[] = []
  let flushing: NodeJS.Immediate | undefined
  let expiresSetAt = 0
  let last: Promise<unknown> = Promise.resolve()

  const flush = (): void => {
    flushing = undefined
    const batch = ops
    ops = []
    for (const op of batch) {
      if (op.kind === 'remove') { last = redis.hdel(key, ...op.fields).catch(() => {}); continue }
      const now = Date.now()
      const p = now - expiresSetAt > HELD_TTL_MS / 10
        ? redis.multi().hset(key, op.fields).pexpire(key, HELD_TTL_MS).exec().then((r) => { const e = r?.[0]?.[0]; if (e !== null && e !== undefined) throw e })
        : redis.hset(key, op.fields)
      if (now - expiresSetAt > HELD_TTL_MS / 10) expiresSetAt = now
      last = p.then(() => { for (const d of op.done) d.resolve() }, (err: unknown) => { for (const d of op.done) d.reject(err) })
    }
  }
  const schedule = (): void => { flushing ??= setImmediate(flush) }

  return {
    add (clientId, copy) {
      return new Promise((resolve, reject) => {
        let op = ops[ops.length - 1]
        if (op?.kind !== 'add') { op = { kind: 'add', fields: new Map(), done: [] }; ops.push(op) }
        op.fields.set(fieldOf(clientId, copy), Buffer.from(encodeBatch([{ copy, clientId, exclude: [clientId], redelivery: true }])))
        op.done.push({ resolve, reject })
        schedule()
      })
    },
    remove (clientId, copy) {
      let op = ops[ops.length - 1]
      if (op?.kind !== 'remove') { op = { kind: 'remove', fields: [] }; ops.push(op) }
      op.fields.push(fieldOf(clientId, copy))
      schedule()
    },
    async takeAll (broker, by) {
      const flat = await redis.callBuffer('EVAL', TAKE, 2, heldKey(broker), reapedKey(broker), by, REAPED_TTL_MS) as Buffer[]
      const out: Handover[] = []
      for (let i = 1; i < flat.length; i += 2) out.push(...decodeBatch(flat[i] as Buffer))
      return out
    },
    async close () {
      if (flushing !== undefined) { clearImmediate(flushing); flush() }
      await last
    }
  }
}
