// aedes-persistence-level and aedes-persistence ship no types; this is the part Warden uses.
declare module 'aedes-persistence-level' {
  import type { Level } from 'level'
  interface LevelPersistence {
    destroy (): Promise<void>
  }
  export default function aedesPersistenceLevel (db: Level<string, unknown>): LevelPersistence
}

declare module 'aedes-persistence' {
  interface MemoryPersistence {
    destroy (): Promise<void>
  }
  export default function aedesPersistence (): MemoryPersistence
}
