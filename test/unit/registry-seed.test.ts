// Seeding the registry from the config file: each entry imported once, the registry wins afterwards.
import { describe, expect, it } from 'vitest'
import type { TopicConfig, UserConfig } from '../../apps/broker/src/config/schema.js'
import { seedFromConfig } from '../../apps/broker/src/registry/seed.js'
import { emptyState, type RegistryState } from '../../apps/broker/src/registry/types.js'

const hash = async (pw: string): Promise<string> => `hashed(${pw})`
const U = (username: string, roles: string[], extra: Partial<UserConfig> = {}): UserConfig => ({ username, passwordHash: `h-${username}`, roles, ...extra })
const T = (filter: string, owners: string[]): TopicConfig => ({ filter, owners })

describe('seedFromConfig', () => {
  it('imports everything into an empty registry, hashing plain passwords, plain ones loopback-only', async () => {
    const users = [U('a', ['admin']), { username: 'demo', password: 'pw', roles: [] }, U('c', [], { loopbackOnly: true })]
    const r = await seedFromConfig(emptyState(), users, [T('x/#', ['a'])], hash)
    expect(r.state.revision).toBe(1)
    expect(r.state.users).toEqual([
      { id: expect.any(String), username: 'a', passwordHash: 'h-a', roles: ['admin'], loopbackOnly: false },
      { id: expect.any(String), username: 'demo', passwordHash: 'hashed(pw)', roles: [], loopbackOnly: true },
      { id: expect.any(String), username: 'c', passwordHash: 'h-c', roles: [], loopbackOnly: true }
    ])
    expect(r.state.topics).toEqual([{ filter: 'x/#', owners: ['a'] }])
    expect(r.state.seeded).toEqual({ users: ['a', 'demo', 'c'], topics: ['x/#'], roles: [] })
    expect(r.added).toEqual(['user a', 'user demo', 'user c', 'topic x/#'])
    expect(r.overridden).toEqual([])
  })

  it('changes nothing (same object) when every entry was seen before', async () => {
    const first = (await seedFromConfig(emptyState(), [U('a', ['admin'])], [T('x/#', ['a'])], hash)).state
    const r = await seedFromConfig(first, [U('a', ['admin'])], [T('x/#', ['a'])], hash)
    expect(r.state).toBe(first)
    expect(r.added).toEqual([])
  })

  it('keeps run-time changes and deletions, reporting the config entries it overrides', async () => {
    const first = (await seedFromConfig(emptyState(), [U('a', ['admin']), U('b', ['consumer'])], [T('x/#', ['a']), T('y/#', ['b'])], hash)).state
    const changed: RegistryState = {
      ...first,
      revision: 5,
      users: [{ ...first.users[0]!, roles: ['observer'] }],
      topics: [{ filter: 'x/#', owners: ['z'] }]
    }
    const r = await seedFromConfig(changed, [U('a', ['admin']), U('b', ['consumer'])], [T('x/#', ['a']), T('y/#', ['b'])], hash)
    expect(r.state).toBe(changed)
    expect(r.overridden).toEqual(['user a', 'user b', 'topic x/#', 'topic y/#'])
  })

  it('reports a seen config user whose hash or loopbackOnly differs from the registry', async () => {
    const first = (await seedFromConfig(emptyState(), [U('a', []), U('b', []), U('c', [])], [], hash)).state
    const r = await seedFromConfig(first, [U('a', [], { passwordHash: 'rotated' }), U('b', [], { loopbackOnly: true }), U('c', [])], [], hash)
    expect(r.state).toBe(first)
    expect(r.overridden).toEqual(['user a', 'user b'])
  })

  it('imports entries added to the config later, and marks them seen', async () => {
    const first = (await seedFromConfig(emptyState(), [U('a', ['admin'])], [], hash)).state
    const r = await seedFromConfig(first, [U('a', ['admin']), U('n', ['producer'])], [T('n/#', ['n'])], hash)
    expect(r.state.revision).toBe(2)
    expect(r.state.users.map((u) => u.username)).toEqual(['a', 'n'])
    expect(r.state.seeded).toEqual({ users: ['a', 'n'], topics: ['n/#'], roles: [] })
    expect(r.added).toEqual(['user n', 'topic n/#'])
  })

  it('lets an entry created at run time win over a config entry of the same name', async () => {
    const runtime: RegistryState = { ...emptyState(), revision: 3, users: [{ username: 'a', passwordHash: 'rt', roles: ['consumer'], loopbackOnly: false }] }
    const r = await seedFromConfig(runtime, [U('a', ['admin'])], [], hash)
    expect(r.state.users).toEqual(runtime.users)
    expect(r.state.seeded.users).toEqual(['a'])
    expect(r.overridden).toEqual(['user a'])
  })

  it('imports roles once, then keeps their run-time grants and reports the config roles it overrides', async () => {
    const roles = { fleet: { subscribe: ['fleet/#'] }, ops: { subscribe: ['ops/#'] } }
    const first = await seedFromConfig(emptyState(), [], [], hash, roles)
    expect(first.state.roles).toEqual([{ name: 'fleet', subscribe: ['fleet/#'] }, { name: 'ops', subscribe: ['ops/#'] }])
    expect(first.state.seeded.roles).toEqual(['fleet', 'ops'])
    expect(first.added).toEqual(['role fleet', 'role ops'])
    // fleet's grants changed at run time, ops deleted: neither comes back from the file
    const changed: RegistryState = { ...first.state, revision: 4, roles: [{ name: 'fleet', subscribe: ['fleet/+/status'] }] }
    const again = await seedFromConfig(changed, [], [], hash, { ...roles, night: { subscribe: ['night/#'] } })
    expect(again.state.roles).toEqual([{ name: 'fleet', subscribe: ['fleet/+/status'] }, { name: 'night', subscribe: ['night/#'] }])
    expect(again.overridden).toEqual(['role fleet', 'role ops'])
    expect(again.added).toEqual(['role night'])
  })
})
