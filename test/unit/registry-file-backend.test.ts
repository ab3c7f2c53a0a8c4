// The registry's file backend: round trip, revision check, file mode, leftovers of a crash, corrupt files.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createFileBackend, REGISTRY_FILE } from '../../apps/broker/src/registry/file-backend.js'
import { createMemoryBackend } from '../../apps/broker/src/registry/memory-backend.js'
import { emptyState, type RegistryState } from '../../apps/broker/src/registry/types.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-regfile-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const next = (s: RegistryState, topics = s.topics): RegistryState => ({ ...s, revision: s.revision + 1, topics })

describe('file backend', () => {
  it('loads nothing on first start, then what was saved', async () => {
    const b = await createFileBackend(dir)
    expect(await b.load()).toBeUndefined()
    const s1 = next(emptyState(), [{ filter: 'a/#', owners: ['x'], schema: { type: 'object' } }])
    expect(await b.save(s1)).toBe(true)
    expect(await (await createFileBackend(dir)).load()).toEqual(s1)
    expect(b.location).toBe(join(dir, REGISTRY_FILE))
  })

  it('refuses a save that does not follow the stored revision', async () => {
    const b = await createFileBackend(dir)
    const s1 = next(emptyState())
    expect(await b.save(s1)).toBe(true)
    expect(await b.save(s1)).toBe(false)
    expect(await b.save(next(next(s1)))).toBe(false)
    expect(await b.save(next(s1))).toBe(true)
  })

  it('writes the file readable by its owner only, and leaves no temp file', async () => {
    const b = await createFileBackend(dir)
    await b.save(next(emptyState()))
    expect((await stat(join(dir, REGISTRY_FILE))).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual([REGISTRY_FILE])
  })

  it('removes temp files of an interrupted write and keeps the committed file', async () => {
    const b = await createFileBackend(dir)
    const s1 = next(emptyState())
    await b.save(s1)
    await writeFile(join(dir, `${REGISTRY_FILE}.999.7.tmp`), '{"format":1,"rev')
    const again = await createFileBackend(dir)
    expect(await readdir(dir)).toEqual([REGISTRY_FILE])
    expect(await again.load()).toEqual(s1)
  })

  it.each([
    ['truncated JSON', '{"format":1,"revision":3', /is not valid JSON/],
    ['another format', JSON.stringify({ ...emptyState(), format: 2 }), /format: must be equal to constant/],
    ['a user without hash', JSON.stringify({ ...emptyState(), users: [{ username: 'u', roles: [], loopbackOnly: false }] }),
      /users\[0\]\.passwordHash: is required/],
    ['a topic with owners as a string', JSON.stringify({ ...emptyState(), topics: [{ filter: 'a', owners: 'x' }] }), /topics\[0\]\.owners: must be array/],
    ['a role without grants', JSON.stringify({ ...emptyState(), roles: [{ name: 'r' }] }), /roles\[0\]\.subscribe: is required/]
  ])('refuses %s, naming the file', async (_what, text, message) => {
    await writeFile(join(dir, REGISTRY_FILE), text)
    const b = await createFileBackend(dir)
    await expect(b.load()).rejects.toMatchObject({ code: 'WARDEN_ERR_REGISTRY', message: expect.stringMatching(message) })
    await expect(b.load()).rejects.toThrow(join(dir, REGISTRY_FILE))
    expect(await readFile(join(dir, REGISTRY_FILE), 'utf8')).toBe(text)
  })
})

describe('a registry stored before roles lived in it', () => {
  it('loads with no roles, so that the config file\'s roles are imported', async () => {
    const { roles: _r, seeded, ...old } = { ...emptyState(), revision: 2 }
    await writeFile(join(dir, REGISTRY_FILE), JSON.stringify({ ...old, seeded: { users: seeded.users, topics: seeded.topics } }))
    const loaded = await (await createFileBackend(dir)).load()
    expect(loaded).toMatchObject({ revision: 2, roles: [], seeded: { users: [], topics: [], roles: [] } })
  })
})

describe('memory backend', () => {
  it('keeps the state with the same revision rule', async () => {
    const b = createMemoryBackend()
    expect(await b.load()).toBeUndefined()
    const s1 = next(emptyState())
    expect(await b.save(s1)).toBe(true)
    expect(await b.save(s1)).toBe(false)
    expect(await b.load()).toBe(s1)
  })
})
