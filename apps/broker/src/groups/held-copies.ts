// The QoS 1/2 consumer-group copies a broker process gave to members with a clean session and that they have not
// acknowledged yet, kept in Redis beside the members' connections (a hash per process). A clean member has no
// session to keep them in: if its process is killed before the member's PUBACK (PUBREC at QoS 2), another process
// that finds it dead (dead-watch.ts) takes them, once, and gives them to other members. A persistent member's
// copies are in its own session instead, resent when it reconnects.
//
// Entries of one event-loop turn go together (one HSET), and removals too (one HDEL; a QoS 1 one waits a few
// milliseconds for others), on one connection, each removal after its entry.
import type { Redis } from 'ioredis'
import { decodeBatch, encodeBatch, type Handover } from './link-batch.js'
import type { Copy, QoS } from './types.js'

/** key names with U+0000 are nothing an MQTT topic or client id can be (the packet guard refuses it) */
export const heldKey = (broker: string): string => `warden:share:held:\u0000${broker}`
/** set by the process that took `broker`'s copies; `broker`, if alive after all, reads it at its next beat */
export const reapedKey = (broker: string): string => `warden:share:reaped:\u0000${broker}`
/** an entry left by a process that closed without handing them on (its Redis went first) is not kept for ever */
export const HELD_TTL_MS = 600_000
const REAPED_TTL_MS = 600_000
/** QoS 1 acknowledgements removed together, within this long (one HDEL for many, where each PUBACK comes alone) */
const REMOVE_WAIT_MS = 5

// the copies and their removal in one step: of the processes that find the owner dead together, one gets them
const TAKE = `
local v = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
return v`

/** a copy a dead process held; `stored`: also in its member's session (MQTT 5 Session Expiry 0, Clean Start 0) */
export type HeldCopy = Handover & { readonly stored: boolean }

export interface HeldCopies {
  /** `copy`, given to clean member `clientId`, until it acknowledges: resolves once Redis has it. `stored`: aedes
   * also stored it in the member's session (one that ends with its connection, but is left in the store by a
   * process killed): the same at its removal */
  add (clientId: string, copy: Copy, stored: boolean): Promise<void>
  /** acknowledged, or handed on by this process itself; `qos`: the member's */
  remove (clientId: string, copy: Copy, qos: QoS, stored: boolean): void
  /** the copies `broker` held, taken out of Redis (another call, here or on another process, finds none);
   * `by`: the process that takes them, recorded for `broker` to find should it be alive after all (null: this
   * process, starting under `broker`'s id, takes what its previous life left) */
  takeAll (broker: string, by: string | null): Promise<HeldCopy[]>
  close (): Promise<void>
}

/** a field ending so is a copy also in its member's session */
const STORED = '\u0000s'
const fieldOf = (clientId: string, copy: Copy, stored: boolean): string =>
  `${clientId}\u0000${copy.brokerId}\u0000${copy.brokerCounter}${stored ? STORED : ''}`
const valueOf = (clientId: string, copy: Copy): Buffer => Buffer.from(encodeBatch([{ copy, clientId, exclude: [clientId], redelivery: true }]))

/** entries written by a batch's claim, in the same script, only if the claim stands (handover-claim.ts): field → value */
export type HeldEntries = Map<string, Buffer>
export const heldEntry = (entries: HeldEntries, clientId: string, copy: Copy, stored: boolean): void => {
  entries.set(fieldOf(clientId, copy, stored), valueOf(clientId, copy))
}

export function createHeldCopies (redis: Redis, self: string): HeldCopies {
  const key = heldKey(self)
  interface Waiter { resolve: () => void, reject: (err: unknown) => void }
  let adds = new Map<string, Buffer>()
  let waiters: Waiter[] = []
  let removals: string[] = []
  let flushing: NodeJS.Immediate | undefined
  let later: NodeJS.Timeout | undefined
  let last: Promise<unknown> = Promise.resolve()

  // entries first, then removals: a removal is always made after its entry, in this flush or an earlier one
  const flush = (): void => {
    if (flushing !== undefined) { clearImmediate(flushing); flushing = undefined }
    if (later !== undefined) { clearTimeout(later); later = undefined }
    if (adds.size > 0) {
      const fields = adds
      const done = waiters
      adds = new Map()
      waiters = []
      // the TTL set with every write: the hash is gone whenever its last field is removed, and a write without
      // it would make the key anew with no expiry (left for good if this process then ends cleanly)
      const p = redis.multi().hset(key, fields).pexpire(key, HELD_TTL_MS).exec().then(firstError)
      last = p.then(() => { for (const d of done) d.resolve() }, (err: unknown) => { for (const d of done) d.reject(err) })
    }
    if (removals.length > 0) {
      last = redis.hdel(key, ...removals).catch(() => {})
      removals = []
    }
  }

  return {
    add (clientId, copy, stored) {
      return new Promise((resolve, reject) => {
        heldEntry(adds, clientId, copy, stored)
        waiters.push({ resolve, reject })
        flushing ??= setImmediate(flush)
      })
    },
    remove (clientId, copy, qos, stored) {
      removals.push(fieldOf(clientId, copy, stored))
      // a QoS 2 copy's removal goes at once: left in Redis by a process dying meanwhile, it would reach a second member
      // after the first acknowledged it (PUBREC). A QoS 1 one waits up to REMOVE_WAIT_MS for others (at least once)
      if (qos === 2) flushing ??= setImmediate(flush)
      else if (flushing === undefined && later === undefined) { later = setTimeout(flush, REMOVE_WAIT_MS); later.unref() }
    },
    async takeAll (broker, by) {
      const flat = await redis.callBuffer('EVAL', TAKE, 2, heldKey(broker), reapedKey(broker), by ?? '', REAPED_TTL_MS) as Buffer[]
      const out: HeldCopy[] = []
      for (let i = 1; i < flat.length; i += 2) {
        const stored = (flat[i - 1] as Buffer).toString().endsWith(STORED)
        for (const h of decodeBatch(flat[i] as Buffer)) out.push({ ...h, stored })
      }
      return out
    },
    async close () {
      flush()
      await last
    }
  }
}

const firstError = (r: Array<[Error | null, unknown]> | null): void => {
  const err = r?.find(([e]) => e !== null)?.[0]
  if (err !== undefined && err !== null) throw err
}
