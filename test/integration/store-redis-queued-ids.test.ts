// On `persistence: redis` a QoS 2 message for a persistent subscriber connected to this worker is given its packet
// id as it is queued (aedes/queued-ids.ts), and is queued under the client's own key with it
// (outgoing:<client>:<brokerId>:<counter>, apps/broker/src/store/redis-queues.ts): what the store wrote once the
// message was sent (a script call awaited before the PUBLISH), written in the call that queues it. The form is
// that one exactly, so a worker not yet upgraded (a rolling reload) reads it as a message sent under that id, and
// so does aedes-persistence-redis; acknowledged, nothing of it stays; a call ioredis sent again after Redis,
// which had run it, restarted lists it once.
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import msgpack from 'msgpack-lite'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RedisQueueStore } from '../../apps/broker/src/store/redis-queues.js'
import { createRedisBatch } from '../../apps/broker/src/store/redis-batch.js'
import { storeOf, type AedesStore, type Session, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import type { IdAtQueue } from '../../apps/broker/src/aedes/queued-ids.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const require = createRequire(import.meta.url)
const mqemitter = require('mqemitter') as () => { emit (...a: unknown[]): unknown, on (...a: unknown[]): unknown, removeListener (...a: unknown[]): unknown }
type OldStore = new (opts: { conn: Redis }) => { setup (broker: object): Promise<void>, destroy (): Promise<void> }
const brokerRequire = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const AsyncRedisPersistence = brokerRequire('aedes-persistence-redis/asyncPersistence.js') as OldStore

const scope = useScope()
/** a connection to the test's Redis, closed after the test */
const connect = (): Redis => {
  const r = new Redis(redis.url)
  scope.defer(() => { r.disconnect() })
  return r
}
let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis.stop() })
beforeEach(async () => { await redis.flush() })

const message = (counter: number): StoredPacket => ({
  cmd: 'publish', topic: 't/q', payload: Buffer.from(`m-${counter}`), qos: 2, retain: false, dup: false, brokerId: 'b-1', brokerCounter: counter
})
const sub = (clientId: string): { clientId: string, topic: string, qos: number } => ({ clientId, topic: 't/#', qos: 2 })
/** an aedes client as the store sees it: a session id and a socket (a connection, not a session read by id) */
const connection = (id: string): Session => ({ id, conn: {} } as unknown as Session)

async function open (kind: 'warden' | 'old' = 'warden'): Promise<{ store: AedesStore, raw: RedisQueueStore | undefined }> {
  const conn = new Redis(redis.url, { enableAutoPipelining: true })
  const s = kind === 'old' ? new AsyncRedisPersistence({ conn }) : new RedisQueueStore({ conn })
  const mq = mqemitter()
  await s.setup({ id: 'b-1', mq, counter: 0, publish: mq.emit.bind(mq), subscribe: mq.on.bind(mq), unsubscribe: mq.removeListener.bind(mq) })
  scope.defer(() => s.destroy())
  return { store: storeOf(s), raw: s instanceof RedisQueueStore ? s : undefined }
}

/** gives `to` the packet ids `ids` hands out, as queued-ids.ts gives a live connection's next ids */
function giveTo (to: Session, ids: number[]): IdAtQueue {
  return (clientId) => {
    const id = ids.shift()
    return clientId !== to.id || id === undefined ? undefined : { id, client: to, drop: () => {} }
  }
}

/** a client's queue in Redis: its entries (the client's name left out) and, for each, the packet it holds */
async function queueOf (db: Redis, clientId: string): Promise<Array<{ entry: string, packet: Record<string, unknown> | null }>> {
  const out = []
  for (const entry of await db.lrange(`outgoing:${clientId}`, 0, -1)) {
    const value = await db.getBuffer(entry)
    const p = value === null ? null : msgpack.decode(value) as Record<string, unknown>
    const packet = p === null
      ? null
      : { cmd: p.cmd, topic: p.topic, payload: String(p.payload), qos: p.qos, messageId: p.messageId, brokerId: p.brokerId, brokerCounter: p.brokerCounter }
    out.push({ entry: entry.replace(`:${clientId}:`, ':<client>:'), packet })
  }
  return out
}

async function read (store: AedesStore, session: Session): Promise<StoredPacket[]> {
  const out: StoredPacket[] = []
  for await (const p of store.outgoingStream(session)) out.push(p)
  return out
}

describe('a QoS 2 message given its packet id as it is queued, on redis', () => {
  it('is in Redis as the message sent under that id was (what a worker not yet upgraded and aedes-persistence-redis read)', async () => {
    const db = connect()
    const { store, raw } = await open()
    const a = connection('sub-a')
    raw?.giveIdsAtQueue(giveTo(a, [7]))
    // sub-a is given id 7 as the message is queued; sub-b (on another worker) is sent it under 7 the way it was
    await store.outgoingEnqueueCombi([sub('sub-a'), sub('sub-b')], message(1))
    await store.outgoingUpdate(connection('sub-b'), { ...message(1), messageId: 7 })
    const queuedWithId = await queueOf(db, 'sub-a')
    expect(queuedWithId).toEqual([{
      entry: 'outgoing:<client>:b-1:1',
      packet: { cmd: 'publish', topic: 't/q', payload: 'm-1', qos: 2, messageId: 7, brokerId: 'b-1', brokerCounter: 1 }
    }])
    expect(queuedWithId).toEqual(await queueOf(db, 'sub-b'))
    // one record for both, with no id on it, counted once per queue
    expect((msgpack.decode(await db.getBuffer('packet:b-1:1') as Buffer) as StoredPacket).messageId ?? null).toBeNull()
    expect(await db.get('packet:b-1:1:offlineCount')).toBe('2')

    // read by a session resumed on any worker, this one's store (the same reader as before) or aedes-persistence-redis's
    const { store: old } = await open('old')
    for (const reader of [store, old]) {
      expect((await read(reader, { id: 'sub-a' })).map((p) => [p.cmd, String(p.payload), p.messageId])).toEqual([['publish', 'm-1', 7]])
    }
    // the connection it was given the id on has it in flight: its own read of the queue leaves it to that delivery
    expect(await read(store, a)).toEqual([])
  })

  it('is sent with nothing written, then its PUBREL and PUBCOMP leave nothing of it in Redis', async () => {
    const db = connect()
    const { store, raw } = await open()
    const a = connection('sub-a')
    raw?.giveIdsAtQueue(giveTo(a, [9]))
    await store.outgoingEnqueueCombi([sub('sub-a')], message(2))
    const calls = raw?.commits.batches
    await store.outgoingUpdate(a, { ...message(2), messageId: 9 })
    expect(raw?.commits.batches).toBe(calls)
    await store.outgoingUpdate(a, { cmd: 'pubrel', messageId: 9 } as unknown as StoredPacket)
    expect((await queueOf(db, 'sub-a')).map((e) => [e.entry, e.packet?.cmd, e.packet?.messageId])).toEqual([['outgoing:<client>:b-1:2', 'pubrel', 9]])
    const acked = await store.outgoingClearMessageId(a, { messageId: 9 })
    expect(acked?.messageId).toBe(9)
    await raw?.settled()
    expect(await db.keys('*')).toEqual([])
  })

  it('is listed and counted once when its call is run twice (ioredis sends it again after Redis, which had run it, restarted)', async () => {
    const db = connect()
    const conn = connect()
    const batch = createRedisBatch(conn)
    const value = msgpack.encode({ ...message(3), messageId: 5 })
    const record = msgpack.encode(message(3))
    const owned = [{ queue: 'outgoing:sub-a', own: 'outgoing:sub-a:b-1:3', value }]
    await batch.enqueue('packet:b-1:3', ['outgoing:sub-b'], record, undefined, [], owned)
    await batch.enqueue('packet:b-1:3', ['outgoing:sub-b'], record, undefined, [], owned)
    expect(await db.lrange('outgoing:sub-a', 0, -1)).toEqual(['outgoing:sub-a:b-1:3'])
    // sub-b's queue lists it twice (as before): three listings in all
    expect(await db.get('packet:b-1:3:offlineCount')).toBe('3')
    await batch.ack('outgoing:sub-a', 'outgoing:sub-a:b-1:3', 'packet:b-1:3')
    await batch.ack('outgoing:sub-b', 'packet:b-1:3', 'packet:b-1:3')
    expect(await db.keys('*')).toEqual([])
  })
})
