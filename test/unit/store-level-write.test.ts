// The level store's one private call into classic-level (apps/broker/src/store/level-write.ts): its batches
// go to `_batch`, which an upgrade of classic-level could rename or change. This fails if it is gone or if
// what it writes is not what the public API reads back (keys as strings, values as Buffers, deletes).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Level } from 'level'
import { createLevelWriter } from '../../apps/broker/src/store/level-write.js'

const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

async function openDb (): Promise<Level<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-level-write-'))
  dirs.push(dir)
  const db = new Level<string, unknown>(dir)
  await db.open()
  return db
}

describe('the level store\'s batch writer', () => {
  it('writes puts and deletes that the public API reads back, byte for byte', async () => {
    const db = await openDb()
    const write = createLevelWriter(db)
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x80])
    await write(new Map([['outgoing:c%3A1:b:0001', bytes], ['incoming:c:0002', Buffer.from('x')]]))
    expect(await db.get('outgoing:c%3A1:b:0001', { valueEncoding: 'buffer' })).toEqual(bytes)
    await write(new Map([['incoming:c:0002', null], ['outgoing-id:c:0003', Buffer.alloc(0)]]))
    expect(await db.get('incoming:c:0002', { valueEncoding: 'buffer' })).toBeUndefined()
    expect(await db.get('outgoing-id:c:0003', { valueEncoding: 'buffer' })).toEqual(Buffer.alloc(0))
    // keys sort as the strings they are (the store's ranges rely on it)
    expect(await db.keys({ gte: 'outgoing:', lt: 'outgoing;' }).all()).toEqual(['outgoing:c%3A1:b:0001'])
    await db.close()
  })

  it('refuses a write once the database is closed', async () => {
    const db = await openDb()
    const write = createLevelWriter(db)
    await db.close()
    await expect(write(new Map([['k', Buffer.from('v')]]))).rejects.toMatchObject({ code: 'WARDEN_ERR_PERSISTENCE' })
  })

  it('refuses to start on a classic-level without _batch(operations, options)', () => {
    const fake = Object.create(null) as Level<string, unknown>
    expect(() => createLevelWriter(fake)).toThrow(expect.objectContaining({ code: 'WARDEN_ERR_PERSISTENCE' }) as Error)
  })
})
