// The check a registry change makes of its acting account, on the state it would be made on: the account as
// it was authorized (id, password hash, loopback rule, roles) and the admin role; other accounts do not matter.
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../packages/common/src/index.js'
import { accountFingerprint } from '../../apps/broker/src/auth/account-fingerprint.js'
import { toAccount } from '../../apps/broker/src/auth/user-directory.js'
import { changeAuthority } from '../../apps/broker/src/control/acting-account.js'
import { createIdentity } from '../../apps/broker/src/policy/identity.js'
import { createMemoryBackend } from '../../apps/broker/src/registry/memory-backend.js'
import { PayloadSchemas } from '../../apps/broker/src/registry/payload-schema.js'
import { Registry } from '../../apps/broker/src/registry/registry.js'
import { emptyState, type RegistryState, type StoredUser } from '../../apps/broker/src/registry/types.js'

const HASH = 'scrypt$1024$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5'
const OTHER_HASH = 'scrypt$1024$8$1$b3RoZXJzYWx0$a2V5a2V5a2V5a2V5a2V5a2V6'
const OPS: StoredUser = { id: 'id-ops', username: 'ops', passwordHash: HASH, roles: ['admin'], loopbackOnly: false }
const PEER: StoredUser = { id: 'id-peer', username: 'peer', passwordHash: HASH, roles: ['admin'], loopbackOnly: false }
const logger = createLogger({ name: 'test', level: 'silent' })

/** the digest the directory's account of `u` has when the command is authorized */
function fingerprint (u: StoredUser): string {
  return accountFingerprint(toAccount(u, u.passwordHash))
}
const state = (...users: StoredUser[]): RegistryState => ({ ...emptyState(), users })
const check = (s: RegistryState): unknown => {
  try { changeAuthority({ identity: createIdentity('ops', 'c', OPS.roles), fingerprint: fingerprint(OPS) })(s); return undefined } catch (err) { return err }
}

describe('changeAuthority', () => {
  it.each([
    ['unchanged', state(OPS, PEER)],
    ['another account demoted', state(OPS, { ...PEER, roles: [] })],
    ['another account deleted', state(OPS)],
    ['another account given a new password', state(OPS, { ...PEER, passwordHash: OTHER_HASH })]
  ])('lets the change be made: %s', (_w, s) => {
    expect(check(s)).toBeUndefined()
  })

  it.each([
    ['demoted', { ...OPS, roles: ['observer'] }],
    ['given another role besides', { ...OPS, roles: ['admin', 'observer'] }],
    ['a new password', { ...OPS, passwordHash: OTHER_HASH }],
    ['loopback only now', { ...OPS, loopbackOnly: true }],
    ['deleted and created again under its name', { ...OPS, id: 'id-new' }]
  ])('refuses it when the account was %s since it was authorized', (_w, now) => {
    expect(check(state(now, PEER))).toMatchObject({ code: 'WARDEN_ERR_API_UNAUTHORIZED' })
  })

  it('refuses it when the account is gone, and when no login was proved for a named account', () => {
    expect(check(state(PEER))).toMatchObject({ code: 'WARDEN_ERR_API_UNAUTHORIZED' })
    const unproved = changeAuthority({ identity: createIdentity('ops', 'c', ['admin']), fingerprint: undefined })
    expect(() => unproved(state(OPS))).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_API_UNAUTHORIZED' }))
  })

  it('refuses an account without the admin role (403), and leaves anonymous clients to the config', () => {
    const observer = { ...OPS, roles: ['observer'] }
    const as = changeAuthority({ identity: createIdentity('ops', 'c', observer.roles), fingerprint: fingerprint(observer) })
    expect(() => as(state(observer))).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_API_FORBIDDEN' }))
    expect(() => changeAuthority({ identity: createIdentity(undefined, 'c', ['admin']), fingerprint: undefined })(state())).not.toThrow()
  })
})

describe('a registry change by an account', () => {
  it('is judged on the state another process stored first, and then changes nothing', async () => {
    const shared = createMemoryBackend()
    const registry = (): Registry =>
      new Registry({ backend: shared, initial: emptyState(), anonymousRole: false, schemas: new PayloadSchemas(), hash: async () => HASH, logger })
    const a = registry()
    const b = registry()
    const ops = await a.createUser({ username: 'ops', passwordHash: HASH, roles: ['admin'] })
    await a.createUser({ username: 'peer', passwordHash: HASH, roles: ['admin'] })
    const by = changeAuthority({ identity: createIdentity('ops', 'c', ops.roles), fingerprint: fingerprint(ops) })
    // b has not seen ops demoted by a: its save is refused, it reloads, and the check then refuses
    await b.createTopic({ filter: 'seen/#', owners: ['x'] })
    await a.modifyUser('ops', { roles: ['observer'] })
    const revision = (await shared.load())?.revision
    await expect(b.createTopic({ filter: 'backdoor/#', owners: ['x'] }, by)).rejects.toMatchObject({ code: 'WARDEN_ERR_API_UNAUTHORIZED' })
    expect((await shared.load())?.revision).toBe(revision)
    expect(b.topic('backdoor/#')).toBeUndefined()
  })
})
