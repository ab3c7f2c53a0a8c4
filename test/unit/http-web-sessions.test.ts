// A dashboard session is honoured only while its account is the one it was signed in with: the fingerprint of
// an account (the same on every worker), and the session table's check of it on each request.
import { describe, expect, it } from 'vitest'
import { accountFingerprint } from '../../apps/broker/src/auth/account-fingerprint.js'
import { createUserDirectory, type UserDirectory } from '../../apps/broker/src/auth/user-directory.js'
import type { UserConfig } from '../../apps/broker/src/config/schema.js'
import { createWebSessions, type SessionAccounts } from '../../apps/broker/src/http/web-sessions.js'
import { createIdentity } from '../../apps/broker/src/policy/identity.js'
import { fastHash } from '../helpers/broker.js'

const LIMITS = { sessionIdleMs: 60_000, sessionMaxMs: 600_000, maxSessions: 10, maxSessionsPerUser: 3 }

async function directory (): Promise<UserDirectory> {
  // a registry's account carries its id (StoredUser.id)
  const users: Array<UserConfig & { id: string }> = [{ username: 'ops', passwordHash: await fastHash('one'), roles: ['admin'], id: 'id-1' }]
  return await createUserDirectory({ users, anonymous: false })
}

/** a worker's view: its directory and the revision of its registry */
function worker (d: UserDirectory): SessionAccounts & { revisionNow: number } {
  return {
    revisionNow: 1,
    fingerprint (username) { const a = d.accounts.get(username); return a === undefined ? undefined : accountFingerprint(a) },
    revision () { return this.revisionNow }
  }
}

describe('account fingerprint', () => {
  it('is the same for the same stored account on two workers, and differs when any of what a login proved changes', async () => {
    const [a, b] = await Promise.all([directory(), directory()])
    const f = accountFingerprint(a.accounts.get('ops')!)
    expect(accountFingerprint(b.accounts.get('ops')!)).toBe(f)
    const hash = await fastHash('one')
    const changes = [
      { passwordHash: await fastHash('two'), roles: ['admin'], id: 'id-1' },
      { passwordHash: hash, roles: ['observer'], id: 'id-1' },
      { passwordHash: hash, roles: ['admin', 'observer'], id: 'id-1' },
      { passwordHash: hash, roles: ['admin'], id: 'id-1', loopbackOnly: true },
      // deleted and created again under the same name
      { passwordHash: hash, roles: ['admin'], id: 'id-2' }
    ]
    for (const c of changes) {
      b.put({ username: 'ops', ...c })
      expect(accountFingerprint(b.accounts.get('ops')!), JSON.stringify(c)).not.toBe(f)
    }
    b.put({ username: 'ops', passwordHash: hash, roles: ['admin'], id: 'id-1' })
    expect(accountFingerprint(b.accounts.get('ops')!)).toBe(f)
  })
})

describe('web sessions and their account', () => {
  const identity = createIdentity('ops', 'http:ops', ['admin'])

  it('ends a session at its next request once its account changed or went, without endFor', async () => {
    const d = await directory()
    const w = worker(d)
    const sessions = createWebSessions(LIMITS, w)
    const started = await sessions.start(identity, w.fingerprint('ops')!, '127.0.0.1')
    if (!started.ok) throw new Error(started.detail)
    expect(await sessions.touch(started.id)).toBeDefined()
    d.put({ username: 'ops', passwordHash: await fastHash('one'), roles: ['observer'], id: 'id-1' })
    w.revisionNow = 2
    expect(await sessions.alive(started.session.key)).toBe(false)
    expect(await sessions.touch(started.id)).toBeUndefined()
    // ended, not only refused: the same account back as it was does not bring it back
    d.put({ username: 'ops', passwordHash: await fastHash('one'), roles: ['admin'], id: 'id-1' })
    expect(await sessions.touch(started.id)).toBeUndefined()
    const again = await sessions.start(identity, w.fingerprint('ops')!, '127.0.0.1')
    expect(again.ok).toBe(true)
    d.remove('ops')
    expect(again.ok && await sessions.touch(again.id)).toBeUndefined()
  })

  it('refuses a sign-in whose account changed while it was checked', async () => {
    const d = await directory()
    const w = worker(d)
    const sessions = createWebSessions(LIMITS, w)
    const verified = w.fingerprint('ops')!
    d.put({ username: 'ops', passwordHash: await fastHash('two'), roles: ['admin'], id: 'id-1' })
    expect(await sessions.start(identity, verified, '127.0.0.1')).toMatchObject({ ok: false, reason: 'changed' })
  })

  it('a worker behind the registry the sign-in saw answers 503 and keeps the session until it catches up', async () => {
    // the sign-in on a worker that has the change (revision 2); this one still has revision 1
    const ahead = await directory()
    ahead.put({ username: 'ops', passwordHash: await fastHash('one'), roles: ['observer'], id: 'id-1' })
    const shared = { fingerprint: worker(ahead).fingerprint, revision: () => 2 }
    const behind = await directory()
    const w = worker(behind)
    let answering: SessionAccounts = shared
    const sessions = createWebSessions(LIMITS, { fingerprint: (u) => answering.fingerprint(u), revision: () => answering.revision() })
    const started = await sessions.start(createIdentity('ops', 'http:ops', ['observer']), shared.fingerprint('ops')!, '127.0.0.1')
    if (!started.ok) throw new Error(started.detail)
    answering = w
    await expect(sessions.touch(started.id)).rejects.toMatchObject({ code: 'WARDEN_ERR_API_SESSIONS_UNAVAILABLE' })
    // caught up
    behind.put({ username: 'ops', passwordHash: await fastHash('one'), roles: ['observer'], id: 'id-1' })
    w.revisionNow = 2
    expect(await sessions.touch(started.id)).toMatchObject({ identity: { roles: ['observer'] } })
  })
})
