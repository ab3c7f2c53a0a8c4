// The one-process member store: persistent members survive a restart (offline), the rest do not;
// release only acts for the process a member is recorded on.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLocalMemberStore, sharedGroupsFile } from '../../apps/broker/src/groups/member-store.js'

const dirs: string[] = []
afterEach(async () => { await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))) })

async function file (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'warden-members-'))
  dirs.push(d)
  return sharedGroupsFile(d)
}

describe('createLocalMemberStore', () => {
  it('keeps persistent members across a restart, offline, and forgets clean ones', async () => {
    const f = await file()
    const s = await createLocalMemberStore(f)
    await s.put('g/a/#', 'durable', { qos: 2, persistent: true, broker: 'b1' })
    await s.put('g/a/#', 'clean', { qos: 1, persistent: false, broker: 'b1' })
    await s.put('h/x', 'clean', { qos: 1, persistent: false, broker: 'b1' })
    await s.close()
    expect(JSON.parse(await readFile(f, 'utf8'))).toEqual({ 'g/a/#': { durable: { qos: 2 } } })
    const again = await createLocalMemberStore(f)
    expect(await again.loadAll()).toEqual(new Map([['g/a/#', new Map([['durable', { qos: 2, persistent: true, broker: null }]])]]))
    expect(await again.loadGroup('h/x')).toEqual(new Map())
  })

  it('keeps a persistent member whose client id is an Object.prototype member (__proto__, constructor)', async () => {
    const f = await file()
    const s = await createLocalMemberStore(f)
    await s.put('g/a', '__proto__', { qos: 1, persistent: true, broker: 'b1' })
    await s.put('g/a', 'constructor', { qos: 2, persistent: true, broker: 'b1' })
    await s.close()
    const again = await createLocalMemberStore(f)
    expect(await again.loadGroup('g/a')).toEqual(new Map([
      ['__proto__', { qos: 1, persistent: true, broker: null }],
      ['constructor', { qos: 2, persistent: true, broker: null }]
    ]))
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  })

  it('releases a member only for the process it is recorded on', async () => {
    const s = await createLocalMemberStore(undefined)
    await s.put('g/a', 'm', { qos: 1, persistent: true, broker: 'b1' })
    expect(await s.release('g/a', 'm', 'b2', null)).toBe(false)
    expect(await s.release('g/a', 'm', 'b1', { qos: 1, persistent: true, broker: null })).toBe(true)
    expect((await s.loadGroup('g/a')).get('m')?.broker).toBeNull()
    expect(await s.release('g/a', 'm', 'b1', null)).toBe(false)
    await s.put('g/a', 'm', { qos: 1, persistent: false, broker: 'b1' })
    expect(await s.release('g/a', 'm', 'b1', null)).toBe(true)
    expect(await s.loadAll()).toEqual(new Map())
  })

  it('starts empty without a file, and with a file that does not exist yet', async () => {
    expect(await (await createLocalMemberStore(undefined)).loadAll()).toEqual(new Map())
    expect(await (await createLocalMemberStore(await file())).loadAll()).toEqual(new Map())
  })
})
