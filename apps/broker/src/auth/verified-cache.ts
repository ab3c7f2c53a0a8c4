// A short-lived memory of logins whose password was verified, so that a device reconnecting with the
// right password does not pay scrypt again. Entries are keyed by an HMAC of (username, password) under a
// random per-process key: no password, nor anything that can be checked offline against a guess, is kept.
// An entry counts only for the account object it was verified against, and every change to an account
// (password, roles, deletion) drops that username's entries.
import { createHmac, randomBytes } from 'node:crypto'

export interface VerifiedCache<A> {
  /** true when this password was verified for exactly this account within the time to live */
  has (username: string, password: Buffer | string, account: A): boolean
  remember (username: string, password: Buffer | string, account: A): void
  forget (username: string): void
  /** the keyed hash of (username, password): equal for the same login, useless to anyone without the key */
  tag (username: string, password: Buffer | string): string
}

const LIMIT = 10_000

export function createVerifiedCache<A> (ttlMs: number, now: () => number = Date.now): VerifiedCache<A> {
  const key = randomBytes(32)
  const entries = new Map<string, { account: A, expires: number }>()
  const byUser = new Map<string, Set<string>>()
  // length-prefixed: no (username, password) split of one string collides with another
  const digest = (username: string, password: Buffer | string): string =>
    createHmac('sha256', key).update(`${Buffer.byteLength(username)}:${username}`).update(password).digest('base64')

  return {
    has (username, password, account) {
      if (ttlMs === 0) return false
      const e = entries.get(digest(username, password))
      return e !== undefined && e.account === account && e.expires > now()
    },
    remember (username, password, account) {
      if (ttlMs === 0) return
      // a flood of distinct logins must not grow memory: forgetting costs one scrypt per device
      if (entries.size >= LIMIT) { entries.clear(); byUser.clear() }
      const d = digest(username, password)
      entries.set(d, { account, expires: now() + ttlMs })
      let keys = byUser.get(username)
      if (keys === undefined) { keys = new Set(); byUser.set(username, keys) }
      keys.add(d)
    },
    tag: (username, password) => digest(username, password),
    forget (username) {
      const keys = byUser.get(username)
      if (keys === undefined) return
      for (const d of keys) entries.delete(d)
      byUser.delete(username)
    }
  }
}
