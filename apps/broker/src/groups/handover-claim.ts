// Who keeps a batch of consumer-group copies handed over to another broker process (cluster-link.ts): the
// receiver, once it has stored them in its members' sessions, or the sender, when no answer came in time. The
// first to claim the batch in Redis keeps it; the other drops its part. So a process stopped (or slow) past the
// sender's time-out, which then stores the copies after all, finds the batch taken back and takes them out of
// its members' sessions again: the sender gave them to another member, and the group gets each once.
import type { Redis } from 'ioredis'
import { HELD_TTL_MS, type HeldEntries } from './held-copies.js'

const claimKey = (id: string): string => `warden:share:claim:${id}`

// the value already there, or nil once this one is set; then, if given, a PUBLISH (the receiver's answer, in the
// same round trip), the copies it keeps for clean members (held-copies.ts: only if its claim stands, else its
// sender and the process that finds it dead would both hand them on: ARGV[6] arguments from ARGV[7]), and the
// notes of its persistent members' copies removed (pending-copies.ts: key, field pairs after those)
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
local n = tonumber(ARGV[6] or '0')
if n > 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 7, 6 + n))
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
for i = 7 + n, #ARGV, 2 do redis.call('HDEL', ARGV[i], ARGV[i + 1]) end
return false`

/** the sender's claim: the copies go elsewhere */
export const TAKEN_BACK = 'back'

/** how long a claim is kept: far past the sender's time-out, and past the age at which a receiver takes no
 * batch (MAX_BATCH_AGE_MS), so that both sides always see the first claim */
const CLAIM_TTL_MS = 120_000
/** a batch older than this is not taken by its receiver at all: its sender decided long ago */
export const MAX_BATCH_AGE_MS = 60_000

export interface HandoverClaims {
  /** claims batch `id` with `value`: null when this claim is the first (it stands), else the first one's value */
  claim (id: string, value: string): Promise<string | null>
  /** as claim; if this claim is the first, `message` is published on `channel` by the same script, `held` written to
   * hash `key`, and the `pending` notes ([key, field]) removed */
  claimAndPublish (
    id: string, value: string, channel: string, message: Buffer,
    held?: { key: string, entries: HeldEntries }, pending?: ReadonlyArray<readonly [string, string]>
  ): Promise<string | null>
  /** the sender has the receiver's answer: nobody claims the batch again (not awaited: it expires anyway) */
  forget (id: string): void
}

export function createHandoverClaims (redis: Redis): HandoverClaims {
  return {
    async claim (id, value) {
      const before = await redis.eval(CLAIM, 2, claimKey(id), '', value, CLAIM_TTL_MS, '', '') as string | null
      return typeof before === 'string' ? before : null
    },
    async claimAndPublish (id, value, channel, message, held, pending = []) {
      const entries = held === undefined ? [] : [...held.entries].flat()
      const kept = [HELD_TTL_MS, entries.length, ...entries, ...pending.flat()]
      const before = await redis.eval(CLAIM, 2, claimKey(id), held?.key ?? '', value, CLAIM_TTL_MS, channel, message, ...kept) as string | null
      return typeof before === 'string' ? before : null
    },
    forget (id) {
      redis.unlink(claimKey(id)).catch(() => {})
    }
  }
}
