// Who a control command acts as, checked again inside the registry's change step (registry.ts ChangeAuthority):
// a change that first waited for something slow (a cluster's other workers, up to 2 s) is made only if its
// account, as the registry the change is made on has it, is still the one the command was authorized as.
import { WardenError } from '@warden/common'
import { accountFingerprint } from '../auth/account-fingerprint.js'
import { toAccount, type Account, type UserDirectory } from '../auth/user-directory.js'
import type { Identity } from '../policy/identity.js'
import type { ChangeAuthority } from '../registry/registry.js'
import type { StoredUser } from '../registry/types.js'

export interface Actor {
  readonly identity: Identity
  /** accountFingerprint of the account as it was when the command was authorized; undefined: anonymous, or
   * an account no longer the one that logged in (its changes are refused) */
  readonly fingerprint: string | undefined
}

// a stored user is replaced, never changed: one digest per object
const digests = new WeakMap<StoredUser, string>()

/** the digest of the account the directory makes of this stored user */
function fingerprintOf (u: StoredUser): string {
  let f = digests.get(u)
  if (f === undefined) {
    f = accountFingerprint(toAccount(u, u.passwordHash))
    digests.set(u, f)
  }
  return f
}

/**
 * The check a registry change by `actor` makes on the state it would be made on: the account exists with the
 * digest it was authorized with (id, password hash, loopback rule, roles) and holds the admin role. Another
 * account's changes do not matter. Anonymous clients' roles come from the config: nothing to check again.
 */
export function changeAuthority ({ identity, fingerprint }: Actor): ChangeAuthority {
  return (s) => {
    const username = identity.username
    if (username === undefined) return
    const u = fingerprint === undefined ? undefined : s.users.find((x) => x.username === username)
    if (u === undefined || fingerprintOf(u) !== fingerprint) {
      throw new WardenError('WARDEN_ERR_API_UNAUTHORIZED', 'the account changed during the request: nothing was changed; sign in again')
    }
    if (!u.roles.includes('admin')) throw new WardenError('WARDEN_ERR_API_FORBIDDEN', 'changing the registry needs the admin role')
  }
}

/**
 * An MQTT client's actor for a command it sent now: its account as the directory has it, if that is still
 * the login the client made (same id, password hash and loopback rule; its roles may have changed since, as
 * its connection's have).
 */
export function mqttActor (identity: Identity, loggedIn: Account | undefined, directory: UserDirectory): Actor {
  const username = identity.username
  if (username === undefined) return { identity, fingerprint: undefined }
  const current = directory.accounts.get(username)
  const same = loggedIn !== undefined && current !== undefined && current.id === loggedIn.id &&
    current.hash.key.equals(loggedIn.hash.key) && current.hash.salt.equals(loggedIn.hash.salt) && current.loopbackOnly === loggedIn.loopbackOnly
  return { identity, fingerprint: same ? accountFingerprint(current) : undefined }
}
