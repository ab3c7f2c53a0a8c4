// HTTP Basic authentication against the broker's accounts (same passwords, same loopback rule as MQTT),
// throttled like MQTT logins, with a short-lived cache so that a dashboard polling every few seconds does
// not pay scrypt each time.
import { createHmac, randomBytes } from 'node:crypto'
import type { Account, UserDirectory } from '../auth/user-directory.js'
import { isLoopback } from '../auth/user-directory.js'
import type { LoginThrottle } from '../broker/login-throttle.js'
import { createIdentity, type Identity } from '../policy/identity.js'

export type AuthOutcome =
  | { readonly ok: true, readonly identity: Identity }
  | { readonly ok: false, readonly detail: string, readonly retryAfterS?: number }

export interface Authenticator {
  authenticate (header: string | undefined, remoteAddress: string | undefined): Promise<AuthOutcome>
}

export interface AuthenticatorOptions {
  /** failed logins: growing delays, then lockouts (shared thresholds with MQTT, own counts) */
  throttle?: LoginThrottle
  /** called for each failed login that carried credentials (audit) */
  onFailure?: (username: string, address: string | undefined, detail: string) => void
  ttlMs?: number
}

interface Cached { readonly account: Account, readonly identity: Identity, readonly expires: number }

const CACHE_LIMIT = 1000
/** what a refused client is told, whatever the cause: the cause (unknown user, wrong password, loopback
 * only…) would tell a guesser which usernames exist; it goes to the audit, for the operator */
export const LOGIN_REFUSED = 'bad username or password'

export function parseBasic (header: string | undefined): { username: string, password: string } | undefined {
  if (header === undefined) return undefined
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (m === null) return undefined
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8')
  const i = decoded.indexOf(':')
  if (i <= 0) return undefined
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function createAuthenticator (directory: UserDirectory, { throttle, onFailure, ttlMs = 60_000 }: AuthenticatorOptions = {}): Authenticator {
  // the cache is keyed by an HMAC of the credentials under a per-process key: no password is kept
  const key = randomBytes(32)
  const cache = new Map<string, Cached>()
  const address = (remote: string | undefined): string | undefined => remote?.startsWith('::ffff:') === true ? remote.slice(7) : remote
  return {
    async authenticate (header, remoteAddress) {
      const creds = parseBasic(header)
      if (creds === undefined) return { ok: false, detail: 'HTTP Basic credentials are required' }
      const loopback = isLoopback(remoteAddress)
      const cacheKey = createHmac('sha256', key).update(`${creds.username}\u0000${creds.password}\u0000${String(loopback)}`).digest('base64')
      const hit = cache.get(cacheKey)
      // an account changed in the registry is a new object: its cached logins no longer count
      if (hit !== undefined && hit.expires > Date.now() && directory.accounts.get(creds.username) === hit.account) {
        return { ok: true, identity: hit.identity }
      }
      cache.delete(cacheKey)
      const from = address(remoteAddress)
      const locked = throttle?.lockedFor(creds.username, from, Date.now()) ?? 0
      if (locked > 0) return { ok: false, detail: `too many failed logins: locked for ${Math.ceil(locked / 1000)} s`, retryAfterS: Math.ceil(locked / 1000) }
      const res = await directory.authenticate(creds.username, Buffer.from(creds.password), remoteAddress)
      if (!res.ok) {
        onFailure?.(creds.username, from, res.detail)
        const delay = throttle?.failed(creds.username, from, Date.now()) ?? 0
        if (delay > 0) await pause(delay)
        return { ok: false, detail: LOGIN_REFUSED }
      }
      throttle?.succeeded(creds.username)
      const account = directory.accounts.get(creds.username)
      const identity = createIdentity(creds.username, `http:${creds.username}`, res.roles)
      if (account !== undefined) {
        if (cache.size >= CACHE_LIMIT) cache.clear()
        cache.set(cacheKey, { account, identity, expires: Date.now() + ttlMs })
      }
      return { ok: true, identity }
    }
  }
}
