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

// aedes-persistence-level's own store class, which store/level-queues.ts delegates all but the queues to
declare module 'aedes-persistence-level/asyncPersistence.js' {
  import type { Level } from 'level'
  import type { Readable } from 'node:stream'
  import type { Subscription } from 'aedes'
  type Session = { readonly id: string }
  export default class AsyncLevelPersistence {
    constructor (db: Level<string, unknown>)
    readonly broker: unknown
    setup (broker: unknown): Promise<void>
    storeRetained (packet: object): Promise<void>
    createRetainedStreamCombi (patterns: string[]): Readable
    createRetainedStream (pattern: string): Readable
    addSubscriptions (client: Session, subs: readonly Subscription[]): Promise<void>
    removeSubscriptions (client: Session, topics: string[]): Promise<void>
    subscriptionsByClient (client: Session): Promise<Subscription[]>
    countOffline (): Promise<{ subsCount: number, clientsCount: number }>
    subscriptionsByTopic (topic: string): Promise<unknown[]>
    cleanSubscriptions (client: Session): Promise<void>
    putWill (client: Session, packet: object): Promise<void>
    getWill<T> (client: Session): Promise<T | undefined>
    delWill<T> (client: Session): Promise<T | undefined>
    streamWill (brokers: unknown): Readable
    getClientList (topic: string): Readable
    destroy (): Promise<void>
  }
}

// aedes-persistence-redis's own store class, which store/redis-queues.ts extends (all but the queues)
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis'
  export default class AsyncRedisPersistence {
    constructor (opts: { conn: Redis, maxSessionDelivery?: number })
    readonly broker: unknown
    setup (broker: unknown): Promise<void>
    removeSubscriptions (client: { readonly id: string }, topics: string[]): Promise<void>
    incomingStorePacket (client: { readonly id: string }, packet: object): Promise<void>
    incomingGetPacket (client: { readonly id: string }, packet: { messageId?: number }): Promise<unknown>
    incomingDelPacket (client: { readonly id: string }, packet: { messageId?: number }): Promise<void>
    cleanIncoming (client: { readonly id: string }): Promise<void>
    destroy (): Promise<void>
  }
}

declare module 'aedes-packet' {
  /** a copy of a packet as aedes stores it: queue identity kept, packet id cleared for QoS > 0 */
  export default class Packet {
    constructor (original: object, broker?: { id: string, counter: number })
    [field: string]: unknown
  }
}

declare module 'msgpack-lite' {
  const msgpack: {
    encode (value: unknown): Buffer
    decode (buffer: Buffer | Uint8Array): unknown
  }
  export default msgpack
}

declare module 'aedes-persistence/callBackPersistence.js' {
  /** aedes-persistence's callback layer over an async store: each method takes an optional callback */
  export class CallBackPersistence {
    constructor (asyncInstanceFactory: (opts: object) => object, opts?: object)
    destroy (): Promise<void>
  }
}
