// The sequence state file: resume after restart, atomic writes, refusal of a damaged file.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSeqStore, readSeqState } from '../../apps/producer/src/seq-store.js'

describe('seq-store', () => {
  let dir: string
  let file: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-producer-seq-'))
    file = join(dir, 'nested', 'seq-state.json')
  })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('starts at 0 without a file and resumes from the saved value after close', async () => {
    const store = await openSeqStore({ file, flushIntervalMs: 0 })
    expect(store.last('device-01')).toBe(0)
    store.record('device-01', 41)
    store.record('device-01', 42)
    store.record('device-02', 7)
    await store.close()
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'device-01': 42, 'device-02': 7 })

    const reopened = await openSeqStore({ file, flushIntervalMs: 0 })
    expect(reopened.last('device-01')).toBe(42)
    expect(reopened.last('device-02')).toBe(7)
    expect(reopened.last('device-03')).toBe(0)
    await reopened.close()
  })

  it('flushes periodically and leaves no temporary file behind', async () => {
    const store = await openSeqStore({ file, flushIntervalMs: 20 })
    store.record('device-01', 5)
    await expect.poll(async () => (await readSeqState(file))['device-01'], { timeout: 2000, interval: 10 }).toBe(5)
    await store.close()
    expect(await readdir(join(dir, 'nested'))).toEqual(['seq-state.json'])
  })

  it('keeps the newest value when flushes overlap', async () => {
    const store = await openSeqStore({ file, flushIntervalMs: 0 })
    const writes: Array<Promise<void>> = []
    for (let seq = 1; seq <= 50; seq++) {
      store.record('device-01', seq)
      writes.push(store.flush())
    }
    await Promise.all(writes)
    expect(await readSeqState(file)).toEqual({ 'device-01': 50 })
    await store.close()
  })

  it.each([
    ['not JSON', '{"device-01": 4'],
    ['an array', '[1, 2]'],
    ['a negative number', '{"device-01": -1}'],
    ['a fraction', '{"device-01": 1.5}'],
    ['a string', '{"device-01": "4"}']
  ])('refuses a state file holding %s, naming the file', async (_what, text) => {
    await openSeqStore({ file, flushIntervalMs: 0 }).then(async (s) => { s.record('x', 1); await s.close() })
    await writeFile(file, text)
    await expect(openSeqStore({ file })).rejects.toMatchObject({ code: 'WARDEN_ERR_PERSISTENCE', message: expect.stringContaining(file) })
  })
})
