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

declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis'
  interface RedisPersistence {
    destroy (): Promise<void>
  }
  interface RedisPersistenceOptions {
    conn?: Redis
    maxSessionDelivery?: number
    packetTTL?: (packet: unknown) => number
  }
  export default function aedesPersistenceRedis (opts: RedisPersistenceOptions): RedisPersistence
}

declare module 'mqemitter-redis' {
  interface MQEmitterRedis {
    close (cb: () => void): void
  }
  import type { Redis } from 'ioredis'
  export default function mqemitterRedis (opts: { connectionString?: string, subConn?: Redis, pubConn?: Redis }): MQEmitterRedis
}
