// Which batch a copy in a persistent member's session came in, until that batch's claim stands
// (handover-claim.ts). A process handed a batch stores its copies in its members' sessions before it claims the
// batch; killed in between, its sender takes the batch back and gives the copies to others, while they stay in the
// sessions. So the receiver first notes each such copy here, and its claim, if it stands, removes the notes in the
// same script. A note still there when the member's session is replayed (on any process) names a batch nobody may
// have claimed for it: the replaying process claims it for the sender (first claim stands) and, unless the receiver
// had claimed it, leaves the copy out of the session (shared-subscriptions.ts). So a QoS 2 message still reaches the
// group once.
import type { Redis } from 'ioredis'
import type { Copy } from './types.js'

/** U+0000: no MQTT topic or client id can name it */
export const pendingKey = (clientId: string): string => `warden:share:pending:\u0000${clientId}`
export const pendingField = (brokerId: unknown, counter: unknown): string => `${String(brokerId)}\u0000${String(counter)}`
/** the batch of copies a process found dead held for members whose sessions also have them (consumer-groups.ts reap),
 * with the dead process's id: claimed by no receiver, so a replayed copy noted so is left out */
export const REAPED_BATCH = 'reaped\u0000'
/** past any session a user keeps offline for long (sessions.expiryMs defaults to 7 days); refreshed at each note */
const PENDING_TTL_MS = 30 * 24 * 3600_000

export interface PendingCopies {
  /** notes that `copy`, about to be stored in `clientId`'s session, came in batch `batch`: resolves once Redis has it */
  add (clientId: string, copy: Copy, batch: string): Promise<void>
  /** the batch a replayed copy of `clientId`'s session came in, if its claim never removed the note */
  batchOf (clientId: string, packet: { brokerId?: unknown, brokerCounter?: unknown }): Promise<string | null>
  forget (clientId: string, packet: { brokerId?: unknown, brokerCounter?: unknown }): void
}

export function createPendingCopies (redis: Redis): PendingCopies {
  interface Waiter { resolve: () => void, reject: (err: unknown) => void }
  // the notes of one event-loop turn go together
  let notes = new Map<string, Map<string, string>>()
  let waiters: Waiter[] = []
  let flushing: NodeJS.Immediate | undefined
  const flush = (): void => {
    flushing = undefined
    const batch = notes
    const done = waiters
    notes = new Map()
    waiters = []
    // a pipeline (one round trip), the TTL set with every write: the hash is gone whenever its last note is
    // removed, and a write without it would make the key anew with no expiry
    const m = redis.pipeline()
    for (const [key, fields] of batch) m.hset(key, fields).pexpire(key, PENDING_TTL_MS)
    m.exec().then((r) => {
      const err = r?.find(([e]) => e !== null)?.[0]
      if (err !== undefined && err !== null) throw err
    }).then(() => { for (const d of done) d.resolve() }, (err: unknown) => { for (const d of done) d.reject(err) })
  }
  return {
    add (clientId, copy, batch) {
      return new Promise((resolve, reject) => {
        const key = pendingKey(clientId)
        let fields = notes.get(key)
        if (fields === undefined) { fields = new Map(); notes.set(key, fields) }
        fields.set(pendingField(copy.brokerId, copy.brokerCounter), batch)
        waiters.push({ resolve, reject })
        flushing ??= setImmediate(flush)
      })
    },
    async batchOf (clientId, packet) {
      return await redis.hget(pendingKey(clientId), pendingField(packet.brokerId, packet.brokerCounter))
    },
    forget (clientId, packet) {
      redis.hdel(pendingKey(clientId), pendingField(packet.brokerId, packet.brokerCounter)).catch(() => {})
    }
  }
}
