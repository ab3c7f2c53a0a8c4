// The broker's store: embedded LevelDB under dataDir (durable, default) or in memory.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import aedesPersistenceLevel from 'aedes-persistence-level'
import aedesPersistence from 'aedes-persistence'
import { WardenError } from '@warden/common'
import type { PersistenceKind } from '../config/schema.js'

export interface Store {
  readonly kind: PersistenceKind
  /** the object handed to aedes */
  readonly persistence: unknown
  close (): Promise<void>
}

export async function createStore (kind: PersistenceKind, dataDir: string): Promise<Store> {
  if (kind === 'memory') {
    const persistence = aedesPersistence()
    return { kind, persistence, close: () => persistence.destroy() }
  }
  const path = join(dataDir, 'mqtt-store')
  try {
    await mkdir(path, { recursive: true })
    const db = new Level<string, unknown>(path)
    await db.open()
    const persistence = aedesPersistenceLevel(db)
    return {
      kind,
      persistence,
      async close () {
        await persistence.destroy()
        if (db.status === 'open') await db.close()
      }
    }
  } catch (err) {
    throw new WardenError('WARDEN_ERR_PERSISTENCE', `cannot open the store at ${path}: ${(err as Error).message}`, { cause: err })
  }
}
