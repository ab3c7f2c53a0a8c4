// @warden/common's atomic file write: all or nothing, temp file in the same directory, cleaned up on failure.
import { mkdtemp, readdir, readFile, rm, stat, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeFileAtomic } from '../../packages/common/src/index.js'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-atomic-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

describe('writeFileAtomic', () => {
  it.each([[{}], [{ durable: true }]])('replaces the content and leaves no temp file (%j)', async (opts) => {
    const file = join(dir, 'a', 'b', 'state.json')
    await writeFileAtomic(file, 'one\n', opts)
    await writeFileAtomic(file, new TextEncoder().encode('two\n'), opts)
    expect(await readFile(file, 'utf8')).toBe('two\n')
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['state.json'])
  })

  it('creates a new file with the mode asked for', async () => {
    const file = join(dir, 'secret.json')
    await writeFileAtomic(file, '{}', { mode: 0o600, durable: true })
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('keeps the old content and removes its temp file when the rename fails', async () => {
    const file = join(dir, 'target')
    await mkdir(file) // a directory where the file should go: rename(2) refuses to replace it
    await mkdir(join(file, 'inside'))
    await expect(writeFileAtomic(file, 'x')).rejects.toThrow()
    expect((await readdir(dir)).sort()).toEqual(['target'])
  })

  it('serialises nothing itself but never mixes concurrent writers: the last rename wins whole', async () => {
    const file = join(dir, 'race.json')
    const payloads = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(10000) }))
    await Promise.all(payloads.map(async (p) => await writeFileAtomic(file, p)))
    expect(payloads).toContain(await readFile(file, 'utf8'))
    expect(await readdir(dir)).toEqual(['race.json'])
  })
})
