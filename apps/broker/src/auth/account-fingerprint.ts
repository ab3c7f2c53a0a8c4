// A digest of what a login proved and was given: the account's id, its password hash, its loopback rule and
// its roles (what registry/live-rules.ts `changedAccounts` compares). A dashboard session keeps the one it was
// signed in with; once the live account's differs, the session is no longer honoured. Every worker of a
// cluster computes the same one from the registry they share; it holds nothing a password could be checked
// against that the registry itself does not.
import { createHash } from 'node:crypto'
import type { Account } from './user-directory.js'

// an account object is replaced, never changed, when the registry changes: one digest per object
const cache = new WeakMap<Account, string>()

export function accountFingerprint (account: Account): string {
  let f = cache.get(account)
  if (f === undefined) {
    const { N, r, p, salt, key } = account.hash
    const parts = [account.id ?? '', account.username, `${N}$${r}$${p}`, salt.toString('base64'), key.toString('base64'),
      account.loopbackOnly ? '1' : '0', ...account.roles]
    // length-prefixed: no list of parts joins into another's string
    f = createHash('sha256').update(parts.map((s) => `${Buffer.byteLength(s)}:${s}`).join('')).digest('base64url')
    cache.set(account, f)
  }
  return f
}
