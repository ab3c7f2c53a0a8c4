// The registry service: changes one at a time, checks, conflicts, the last admin, and a change that
// races another process's (the backend's compare-and-set).
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../packages/common/src/index.js'
import type { RegistryBackend } from '../../apps/broker/src/registry/backend.js'
import { createMemoryBackend } from '../../apps/broker/src/registry/memory-backend.js'
import { PayloadSchemas } from '../../apps/broker/src/registry/payload-schema.js'
import { Registry } from '../../apps/broker/src/registry/registry.js'
import { emptyState, type RegistryState } from '../../apps/broker/src/registry/types.js'

const logger = createLogger({ name: 'test', level: 'silent' })
const HASH = 'scrypt$1024$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5a2V5'
function registryOn (backend: RegistryBackend, initial: RegistryState = emptyState(), anonymousRole: string | false = false): Registry {
  return new Registry({ backend, initial, anonymousRole, schemas: new PayloadSchemas(), hash: async (p) => `hashed:${p.length}`, logger })
}

describe('Registry', () => {
  it('hashes passwords, stores, and tells listeners about each change', async () => {
    const backend = createMemoryBackend()
    const r = registryOn(backend)
    const seen: number[] = []
    r.onChange((prev, next) => seen.push(prev.revision * 10 + next.revision))
    const u = await r.createUser({ username: 'a', password: 'secret-pw', roles: ['admin'] })
    expect(u).toEqual({ id: expect.any(String), username: 'a', passwordHash: 'hashed:9', roles: ['admin'], loopbackOnly: false })
    await r.createTopic({ filter: 'x/#', owners: ['a'] })
    expect(seen).toEqual([1, 12])
    expect((await backend.load())?.revision).toBe(2)
    expect(r.state.users).toHaveLength(1)
  })

  it.each([
    ['an unknown role', () => ({ username: 'b', password: 'secret-pw', roles: ['pilot'] }), 'WARDEN_ERR_UNKNOWN_ROLE', /roles\[0\]: role "pilot"/],
    ['no password at all', () => ({ username: 'b', roles: [] }), 'WARDEN_ERR_API_BAD_REQUEST', /password: is required/],
    ['a bad hash', () => ({ username: 'b', passwordHash: 'x', roles: [] }), 'WARDEN_ERR_PASSWORD_HASH', /passwordHash: must look like/]
  ])('refuses a user with %s', async (_w, input, code, message) => {
    const r = registryOn(createMemoryBackend())
    await expect(r.createUser(input())).rejects.toMatchObject({ code, message: expect.stringMatching(message) })
    expect(r.state.revision).toBe(0)
  })

  it.each([
    ['a bad filter', 'a/#/b', ['x'], undefined, 'WARDEN_ERR_TOPIC_FILTER', /filter: "a\/#\/b"/],
    ['a broker topic', '$WARDEN/void', ['x'], undefined, 'WARDEN_ERR_TOPIC_FILTER', /belong to the broker/],
    ['an owner template elsewhere', 'a/{username}', ['{clientid}'], undefined, 'WARDEN_ERR_TOPIC_FILTER', /owners\[0\]: only '\{username\}'/],
    ['a schema that does not compile', 'a/b', ['x'], { type: 'objekt' }, 'WARDEN_ERR_PAYLOAD_SCHEMA', /schema: is not a usable JSON Schema/]
  ])('refuses a registration with %s', async (_w, filter, owners, schema, code, message) => {
    const r = registryOn(createMemoryBackend())
    await expect(r.createTopic({ filter, owners, ...(schema !== undefined ? { schema } : {}) }))
      .rejects.toMatchObject({ code, message: expect.stringMatching(message) })
  })

  it('answers conflicts and missing entries with their codes', async () => {
    const r = registryOn(createMemoryBackend())
    await r.createTopic({ filter: 'x/#', owners: ['a'] })
    await expect(r.createTopic({ filter: 'x/#', owners: ['b'] })).rejects.toMatchObject({ code: 'WARDEN_ERR_API_CONFLICT' })
    await expect(r.modifyTopic('y/#', { owners: ['b'] })).rejects.toMatchObject({ code: 'WARDEN_ERR_API_NOT_FOUND' })
    await expect(r.deleteUser('nobody')).rejects.toMatchObject({ code: 'WARDEN_ERR_API_NOT_FOUND' })
  })

  it('keeps at least one admin once there is one', async () => {
    const r = registryOn(createMemoryBackend())
    await r.createUser({ username: 'a', passwordHash: HASH, roles: ['admin'] })
    await expect(r.deleteUser('a')).rejects.toMatchObject({ code: 'WARDEN_ERR_API_CONFLICT' })
    await expect(r.modifyUser('a', { roles: [] })).rejects.toMatchObject({ code: 'WARDEN_ERR_API_CONFLICT' })
    await r.createUser({ username: 'b', passwordHash: HASH, roles: ['admin'] })
    await r.deleteUser('a')
    expect(r.state.users.map((u) => u.username)).toEqual(['b'])
  })

  it('runs concurrent changes one after the other', async () => {
    const r = registryOn(createMemoryBackend())
    await Promise.all(Array.from({ length: 20 }, (_, i) => r.createTopic({ filter: `t/${i}`, owners: ['x'] })))
    expect(r.state.revision).toBe(20)
    expect(r.state.topics).toHaveLength(20)
  })

  it('re-derives a change from the state another process stored first', async () => {
    const shared = createMemoryBackend()
    const a = registryOn(shared)
    const b = registryOn(shared)
    await a.createTopic({ filter: 'from-a', owners: ['x'] })
    // b has not seen a's change: its save is refused, it reloads, and its change lands on top of a's
    await b.createTopic({ filter: 'from-b', owners: ['y'] })
    expect(b.state.topics.map((t) => t.filter)).toEqual(['from-a', 'from-b'])
    expect((await shared.load())?.revision).toBe(2)
    // and a change that conflicts with what the other stored is refused after the reload
    await expect(a.createTopic({ filter: 'from-b', owners: ['z'] })).rejects.toMatchObject({ code: 'WARDEN_ERR_API_CONFLICT' })
  })

  it('applies a change announced by the backend (cluster)', async () => {
    let announce = (): void => {}
    const shared = createMemoryBackend()
    const watched: RegistryBackend = { ...shared, watch (cb) { announce = cb } }
    const a = registryOn(shared)
    const b = registryOn(watched)
    const applied = new Promise<RegistryState>((resolve) => b.onChange((_p, n) => resolve(n)))
    await a.createUser({ username: 'u', passwordHash: HASH, roles: [] })
    announce()
    expect((await applied).users.map((u) => u.username)).toEqual(['u'])
  })
})

describe('Registry roles', () => {
  it('defines, changes and deletes roles, which accounts may then hold', async () => {
    const r = registryOn(createMemoryBackend())
    await expect(r.createUser({ username: 'p', passwordHash: HASH, roles: ['pilot'] })).rejects.toMatchObject({ code: 'WARDEN_ERR_UNKNOWN_ROLE' })
    expect(await r.createRole({ name: 'pilot', subscribe: ['planes/{username}/#'] })).toEqual({ name: 'pilot', subscribe: ['planes/{username}/#'] })
    await r.createUser({ username: 'p', passwordHash: HASH, roles: ['pilot'] })
    expect(r.roleTable.pilot).toEqual({ subscribe: ['planes/{username}/#'] })
    // built-in roles are always there and grant nothing until given grants
    expect(r.roleTable.consumer).toEqual({ subscribe: [] })
    await r.modifyRole('consumer', ['sensors/#'])
    expect(r.roleTable.consumer).toEqual({ subscribe: ['sensors/#'] })
    await r.modifyRole('pilot', ['planes/#'])
    expect(r.role('pilot')).toEqual({ name: 'pilot', subscribe: ['planes/#'] })
    await expect(r.deleteRole('pilot'))
      .rejects.toMatchObject({ code: 'WARDEN_ERR_API_CONFLICT', message: expect.stringMatching(/held by p: take it from them first/) })
    await r.deleteUser('p')
    await r.deleteRole('pilot')
    expect(r.roleNames.has('pilot')).toBe(false)
    expect((await r.backend.load())?.roles).toEqual([{ name: 'consumer', subscribe: ['sensors/#'] }])
  })

  it.each([
    ['an existing role', (r: Registry) => r.createRole({ name: 'admin', subscribe: [] }), 'WARDEN_ERR_API_CONFLICT', /exists already/],
    ['a bad grant', (r: Registry) => r.createRole({ name: 'x', subscribe: ['a/#/b'] }), 'WARDEN_ERR_TOPIC_FILTER', /subscribe\[0\]: "a\/#\/b"/],
    ['an unknown role', (r: Registry) => r.modifyRole('nobody', ['a']), 'WARDEN_ERR_API_NOT_FOUND', /role "nobody" does not exist/],
    ['a built-in role', (r: Registry) => r.deleteRole('observer'), 'WARDEN_ERR_API_CONFLICT', /built in/],
    ['the anonymous role', (r: Registry) => r.createRole({ name: 'guest', subscribe: [] }).then(() => r.deleteRole('guest')),
      'WARDEN_ERR_API_CONFLICT', /role of anonymous clients/]
  ])('refuses %s', async (_w, change, code, message) => {
    const r = registryOn(createMemoryBackend(), emptyState(), 'guest')
    await expect(change(r)).rejects.toMatchObject({ code, message: expect.stringMatching(message) })
  })
})
