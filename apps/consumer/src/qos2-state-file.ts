// Keeps the unreleased QoS 2 packet ids of a session between runs, so a resent PUBLISH is not delivered twice.
import { readFileSync, rmSync } from 'node:fs'
import { writeFileAtomic } from '@warden/common'

interface SavedIds {
  url: string
  clientId: string
  ids: number[]
}

/**
 * Reads and deletes the file: ids from a run that then crashed must not linger, because the broker
 * reuses packet ids and a stale one would suppress a new message.
 */
export function takeUnreleasedIds (path: string, url: string, clientId: string): number[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  rmSync(path, { force: true })
  const data = JSON.parse(text) as Partial<SavedIds>
  // another broker or client id has its own packet ids
  if (data.url !== url || data.clientId !== clientId || !Array.isArray(data.ids)) return []
  return data.ids.filter((id) => Number.isInteger(id) && id > 0 && id <= 65535)
}

export async function saveUnreleasedIds (path: string, url: string, clientId: string, ids: number[]): Promise<void> {
  if (ids.length === 0) return
  const saved: SavedIds = { url, clientId, ids }
  // durable: a lost id would let a resent QoS 2 PUBLISH through twice after the restart
  await writeFileAtomic(path, JSON.stringify(saved) + '\n', { durable: true })
}
