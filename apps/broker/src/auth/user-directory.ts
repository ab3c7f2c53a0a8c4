// Who may connect: username/password accounts (scrypt hashes), loopback-only demo accounts, anonymous.
import { isIP } from 'node:net'
import { certificateLogin } from './cert-login.js'
import type { UserConfig } from '../config/schema.js'
import { DEFAULT_SCRYPT, hashPassword, parsePasswordHash, verifyPassword } from './password.js'
import { createVerifiedCache } from './verified-cache.js'

export interface Account {
  /** the registry's account id (StoredUser.id): tells a re-created name from the account deleted before */
  readonly id: string | undefined
  readonly username: string
  readonly roles: readonly string[]
  readonly loopbackOnly: boolean
  readonly hash: ReturnType<typeof parsePasswordHash>
  /** configured with a plain-text password (demo) */
  readonly plain: boolean
}

export type AuthResult =
  | { readonly ok: true, readonly username: string | undefined, readonly roles: readonly string[], readonly account?: Account }
  | { readonly ok: false, readonly returnCode: 4 | 5, readonly reason: 'bad-credentials' | 'not-authorized', readonly detail: string }

export interface UserDirectory {
  /** `certName`: the name in the client's verified certificate (mTLS), which then stands in for the password */
  authenticate (username: string | undefined, password: Buffer | undefined, remoteAddress: string | undefined, certName?: string): Promise<AuthResult>
  readonly accounts: ReadonlyMap<string, Account>
  /** usernames configured with a plain-text password */
  readonly plainAccounts: readonly string[]
  /** adds or replaces an account at run time (registry); the next CONNECT sees it */
  put (user: UserConfig & { id?: string }): void
  remove (username: string): boolean
  /** true when this password was verified for this account moments ago: authenticate answers without scrypt */
  isVerified (username: string, password: Buffer | string): boolean
  /** a keyed hash of the login: identical logins in flight share one verification (login-gate.ts) */
  loginTag (username: string, password: Buffer | string): string
}

export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  if (isIP(a) === 4) return a.startsWith('127.')
  return a === '::1'
}

export interface DirectoryOptions {
  users: readonly UserConfig[]
  /** role for clients without a username, or false to refuse them */
  anonymous: false | string
  /** how long a verified password is remembered (limits.login.cacheTtlMs); 0: never */
  cacheTtlMs?: number
  /** false (behind a proxy on this host): a loopback address proves nothing, loopback-only accounts are refused */
  trustLoopback?: boolean
}

/** the account a configured or stored user logs in as, with this password hash */
export function toAccount (u: UserConfig & { id?: string | undefined }, hash: string): Account {
  const plain = u.password !== undefined
  // frozen once: each connection of the account holds this array, not a copy (policy/identity.ts)
  const roles = Object.freeze([...u.roles])
  return { id: u.id, username: u.username, roles, loopbackOnly: plain || u.loopbackOnly === true, hash: parsePasswordHash(hash), plain }
}

/** Hashes the plain demo passwords once at start, so every login takes the same scrypt path. */
export async function createUserDirectory ({ users, anonymous, cacheTtlMs = 60_000, trustLoopback = true }: DirectoryOptions): Promise<UserDirectory> {
  const anonymousRoles: readonly string[] = Object.freeze(anonymous === false ? [] : [anonymous])
  const fromLoopback = (address: string | undefined): boolean => trustLoopback && isLoopback(address)
  const accounts = new Map<string, Account>()
  const verified = createVerifiedCache<Account>(cacheTtlMs)
  const hashed = await Promise.all(users.map((u) => u.passwordHash ?? hashPassword(u.password as string)))
  users.forEach((u, i) => { accounts.set(u.username, toAccount(u, hashed[i] as string)) })
  // verified when the username is unknown, so that timing does not tell which usernames exist
  const decoy = parsePasswordHash(await hashPassword('decoy', DEFAULT_SCRYPT))

  return {
    accounts,
    plainAccounts: [...accounts.values()].filter((a) => a.plain).map((a) => a.username),
    put (u) {
      if (u.passwordHash === undefined) throw new Error('a run-time account needs a passwordHash')
      verified.forget(u.username)
      accounts.set(u.username, toAccount(u, u.passwordHash))
    },
    remove (username) {
      verified.forget(username)
      return accounts.delete(username)
    },
    loginTag: (username, password) => verified.tag(username, password),
    isVerified (username, password) {
      const account = accounts.get(username)
      return account !== undefined && verified.has(username, password, account)
    },
    async authenticate (username, password, remoteAddress, certName) {
      if (certName !== undefined) return certificateLogin(accounts.get(certName), certName, username, fromLoopback(remoteAddress))
      if (username === undefined) {
        if (anonymous === false) return { ok: false, returnCode: 5, reason: 'not-authorized', detail: 'anonymous clients are not allowed' }
        return { ok: true, username: undefined, roles: anonymousRoles }
      }
      const account = accounts.get(username)
      if (account === undefined || password === undefined) {
        await verifyPassword(password ?? '', decoy)
        return { ok: false, returnCode: 4, reason: 'bad-credentials', detail: account === undefined ? 'unknown user' : 'no password' }
      }
      if (!verified.has(username, password, account)) {
        if (!await verifyPassword(password, account.hash)) {
          return { ok: false, returnCode: 4, reason: 'bad-credentials', detail: 'wrong password' }
        }
        // only when the account is still the one verified against (not changed while scrypt ran)
        if (accounts.get(username) === account) verified.remember(username, password, account)
      }
      // the account may have been changed or removed (registry) while scrypt ran: answer for the current one
      const current = accounts.get(username)
      if (current === undefined || !current.hash.key.equals(account.hash.key)) {
        return { ok: false, returnCode: 4, reason: 'bad-credentials', detail: 'account changed during login' }
      }
      if (current.loopbackOnly && !fromLoopback(remoteAddress)) {
        const detail = trustLoopback ? 'account is accepted from loopback clients only' : 'loopback-only account refused: behindProxy is set'
        return { ok: false, returnCode: 5, reason: 'not-authorized', detail }
      }
      // the account as verified: a change after this point ends the connection (live-rules.ts)
      return { ok: true, username, roles: current.roles, account: current }
    }
  }
}
