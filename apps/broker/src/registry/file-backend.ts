// The registry in one JSON file under dataDir, replaced atomically and durably (writeFileAtomic: temp file,
// fsync, rename, fsync dir).
import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { WardenError, writeFileAtomic } from '@warden/common'
import type { RegistryBackend } from './backend.js'
import { parseState } from './state-check.js'

export const REGISTRY_FILE = 'registry.json'

/**
 * A crash (kill -9, power loss) at any point leaves either the old file or the new one, never a mix: the
 * new state is written and fsynced to a temp file, renamed over the old one, and the directory is fsynced
 * so that the rename itself is durable before save() resolves. One broker process writes a data dir.
 */
export async function createFileBackend (dataDir: string): Promise<RegistryBackend> {
  const path = join(dataDir, REGISTRY_FILE)
  let revision = 0
  try {
    await mkdir(dataDir, { recursive: true })
    // temp files of a write that a crash interrupted: the rename never happened, so they hold nothing committed
    for (const name of await readdir(dataDir)) {
      if (name.startsWith(`${REGISTRY_FILE}.`) && name.endsWith('.tmp')) await rm(join(dataDir, name), { force: true })
    }
  } catch (err) {
    throw new WardenError('WARDEN_ERR_REGISTRY', `cannot prepare the registry directory ${dataDir}: ${(err as Error).message}`, { cause: err })
  }

  return {
    kind: 'file',
    location: path,
    async load () {
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new WardenError('WARDEN_ERR_REGISTRY', `cannot read the registry ${path}: ${(err as Error).message}`, { cause: err })
      }
      const state = parseState(text, path)
      revision = state.revision
      return state
    },
    async save (next) {
      if (next.revision !== revision + 1) return false
      try {
        // durable: an answered change must survive a power loss; 0600: the file holds password hashes
        await writeFileAtomic(path, JSON.stringify(next, null, 2) + '\n', { durable: true, mode: 0o600 })
      } catch (err) {
        throw new WardenError('WARDEN_ERR_REGISTRY', `cannot write the registry ${path}: ${(err as Error).message}`, { cause: err })
      }
      revision = next.revision
      return true
    },
    watch () {},
    async close () {}
  }
}
