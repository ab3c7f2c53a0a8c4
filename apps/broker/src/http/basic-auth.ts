// HTTP Basic authentication against the broker's accounts (same passwords, same loopback rule as MQTT),
// behind a login gate of its own with the thresholds of MQTT logins (lockouts per (username, address) and
// per address, logins in flight, fair verification). A dashboard polling every few seconds does not pay
// scrypt each time: the directory remembers verified passwords (limits.login.cacheTtlMs).
import type { Account, UserDirectory } from '../auth/user-directory.js'
import type { LoginGate } from '../limits/login-gate.js'
import { createIdentity, type Identity } from '../policy/identity.js'

export type AuthOutcome =
  /** `account`: the account as verified (a dashboard session keeps its fingerprint) */
  | { readonly ok: true, readonly identity: Identity, readonly account: Account | undefined }
  | { readonly ok: false, readonly detail: string, readonly retryAfterS?: number, readonly pending?: boolean }

/** where a login came from, for the audit */
export type LoginSurface = 'HTTP API' | 'dashboard sign-in'

export interface Authenticator {
  /** `cancelled`: the request's socket has closed, its verification is skipped */
  authenticate (header: string | undefined, remoteAddress: string | undefined, cancelled?: () => boolean): Promise<AuthOutcome>
  /** the same gate, checks and audit for a username and password given another way (the sign-in page) */
  login (username: string, password: string, surface: LoginSurface, remoteAddress: string | undefined, cancelled?: () => boolean): Promise<AuthOutcome>
}

export interface AuthenticatorOptions {
  gate?: LoginGate
  /** called for each failed login that carried credentials (audit) */
  onFailure?: (username: string, address: string | undefined, detail: string, surface: LoginSurface) => void
  /** called for each login refused before verification (audit) */
  onRefused?: (username: string, address: string | undefined, reason: 'login-throttled' | 'login-pending', detail: string, surface: LoginSurface) => void
}

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

type Verified = Awaited<ReturnType<UserDirectory['authenticate']>>

export function createAuthenticator (directory: UserDirectory, { gate, onFailure, onRefused }: AuthenticatorOptions = {}): Authenticator {
  const address = (remote: string | undefined): string | undefined => remote?.startsWith('::ffff:') === true ? remote.slice(7) : remote
  const login: Authenticator['login'] = async (username, plain, surface, remoteAddress, cancelled) => {
    const from = address(remoteAddress)
    const password = Buffer.from(plain)
    const verify = (): Promise<Verified> => directory.authenticate(username, password, remoteAddress)
    let res: Verified
    if (gate === undefined) {
      res = await verify()
    } else {
      const attempt = {
        username,
        address: from,
        cached: directory.isVerified(username, password),
        tag: directory.loginTag(username, password),
        ...(cancelled !== undefined ? { cancelled } : {})
      }
      const outcome = await gate.attempt(attempt, verify, (r) => !r.ok && r.reason === 'bad-credentials')
      if (outcome.kind === 'cancelled') return { ok: false, detail: 'connection closed during login' }
      if (outcome.kind === 'refused') {
        const r = outcome.refusal
        onRefused?.(username, from, r.reason, r.detail, surface)
        return { ok: false, detail: r.detail, retryAfterS: Math.ceil(r.retryAfterMs / 1000), pending: r.reason === 'login-pending' }
      }
      res = outcome.value
    }
    if (!res.ok) {
      onFailure?.(username, from, res.detail, surface)
      return { ok: false, detail: LOGIN_REFUSED }
    }
    return { ok: true, identity: createIdentity(username, `http:${username}`, res.roles), account: res.account }
  }
  return {
    login,
    async authenticate (header, remoteAddress, cancelled) {
      const creds = parseBasic(header)
      if (creds === undefined) return { ok: false, detail: 'HTTP Basic credentials are required' }
      return await login(creds.username, creds.password, 'HTTP API', remoteAddress, cancelled)
    }
  }
}
