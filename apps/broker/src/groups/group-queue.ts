// A group's queue: QoS 1/2 messages kept while none of its members is connected, bounded per group.
// One process: the queue of a pseudo session in the broker's own store (durable with LevelDB). Cluster: a
// Redis list, popped atomically, so two processes draining one group never take the same message.
import type { Redis } from 'ioredis'
import type { AedesStore } from '../aedes/store.js'
import type { ReplicaFence } from '../store/redis-replicas.js'
import type { Copy, QoS } from './types.js'
import { decodeProperties, encodeProperties, type CopyProperties } from './copy-properties.js'

export interface GroupQueue {
  /** false when the group already holds `max` messages: the copy is not kept */
  push (copy: Copy, max: number): Promise<boolean>
  /** removes and returns up to `max` of the oldest copies */
  take (key: string, max: number): Promise<Copy[]>
  size (key: string): Promise<number>
  clear (key: string): Promise<void>
}

interface StoredPacket {
  topic: string, payload: Buffer, qos: QoS, brokerId: string, brokerCounter: number, messageId?: number, properties?: CopyProperties, messageExpiry?: number
}

/** Pseudo session ids cannot clash with a client's: the packet guard refuses U+0000 in client ids. */
export const QUEUE_SESSION_PREFIX = '\u0000warden-share:'

export function createStoreQueue (store: AedesStore): GroupQueue {
  const sizes = new Map<string, number>()
  // placeholder packet ids for removing entries, unique for a long while (see session-expiry.ts)
  let nextId = 0
  const session = (key: string): { id: string, clientId: string } => ({ id: QUEUE_SESSION_PREFIX + key, clientId: QUEUE_SESSION_PREFIX + key })

  const counting = new Map<string, Promise<void>>()
  /** counted once from the store (a queue kept across a restart), then kept up to date here */
  const size = async (key: string): Promise<number> => {
    const known = sizes.get(key)
    if (known !== undefined) return known
    let c = counting.get(key)
    if (c === undefined) {
      c = (async () => {
        let n = 0
        for await (const _ of store.outgoingStream(session(key))) n++
        sizes.set(key, n)
        counting.delete(key)
      })()
      counting.set(key, c)
    }
    await c
    return sizes.get(key) ?? 0
  }

  const take = async (key: string, max: number): Promise<Copy[]> => {
    const s = session(key)
    const batch: StoredPacket[] = []
    for await (const p of store.outgoingStream(s)) {
      batch.push(p as StoredPacket) // a copy this queue stored itself
      if (batch.length >= max) break
    }
    const out: Copy[] = []
    for (const p of batch) {
      nextId = nextId >= 65535 ? 1 : nextId + 1
      await store.outgoingUpdate(s, { ...p, messageId: nextId })
      await store.outgoingClearMessageId(s, { messageId: nextId })
      out.push({
        key, topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, brokerId: p.brokerId, brokerCounter: Number(p.brokerCounter),
        ...(p.properties !== undefined && p.properties !== null ? { properties: p.properties } : {}),
        ...(typeof p.messageExpiry === 'number' ? { messageExpiry: p.messageExpiry } : {})
      })
    }
    const n = sizes.get(key)
    if (n !== undefined) sizes.set(key, Math.max(0, n - out.length))
    return out
  }

  return {
    size,
    async push (copy, max) {
      await size(copy.key)
      // read again after the wait: other pushes may have counted meanwhile
      const n = sizes.get(copy.key) ?? 0
      if (n >= max) return false
      sizes.set(copy.key, n + 1)
      await store.outgoingEnqueue(session(copy.key), {
        cmd: 'publish', topic: copy.topic, payload: copy.payload, qos: copy.qos, retain: false, dup: false,
        brokerId: copy.brokerId, brokerCounter: copy.brokerCounter,
        ...(copy.properties !== undefined ? { properties: copy.properties } : {}),
        ...(copy.messageExpiry !== undefined ? { messageExpiry: copy.messageExpiry } : {})
      })
      return true
    },
    take,
    async clear (key) {
      while ((await take(key, 256)).length > 0) { /* taking is the work */ }
      sizes.delete(key)
    }
  }
}

const queueKey = (key: string): string => `warden:share:q:${key}`

// bounded push: the check and the push in one step, whichever process pushes
const PUSH = `
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1`

interface Encoded { t: string, p: string, q: QoS, b: string, c: number, o?: Record<string, unknown>, e?: number }

/** `replicas` (redis.waitForReplicas): a kept copy is an acknowledgement's write as well, so its push resolves
 * only once the replicas have it (store/redis-replicas.ts) */
export function createRedisQueue (redis: Redis, replicas?: ReplicaFence): GroupQueue {
  return {
    async push (copy, max) {
      const e: Encoded = {
        t: copy.topic, p: copy.payload.toString('base64'), q: copy.qos, b: copy.brokerId, c: copy.brokerCounter,
        o: encodeProperties(copy.properties), e: copy.messageExpiry
      }
      const kept = await redis.eval(PUSH, 1, queueKey(copy.key), JSON.stringify(e), max) === 1
      if (kept) await replicas?.after()
      return kept
    },
    async take (key, max) {
      const items = await redis.rpop(queueKey(key), max) ?? []
      return items.map((s) => {
        const e = JSON.parse(s) as Encoded
        return {
          key, topic: e.t, payload: Buffer.from(e.p, 'base64'), qos: e.q, brokerId: e.b, brokerCounter: e.c,
          properties: decodeProperties(e.o), messageExpiry: e.e
        }
      })
    },
    async size (key) { return await redis.llen(queueKey(key)) },
    async clear (key) { await redis.del(queueKey(key)) }
  }
}
