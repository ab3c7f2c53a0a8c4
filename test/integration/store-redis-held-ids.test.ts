// The packet id a QoS 1 message was sent under, on `persistence: redis` (apps/broker/src/store/redis-batch.ts):
// held back a moment before it is written to the client's hash of ids, and never written when the message is
// acknowledged meanwhile (most are: a round trip to the subscriber) — two commands per message fewer. What
// must still hold: once the store's writes have settled (a binding released, a takeover answered, a session's
// queue read: redis-bindings.ts, redis-queues.ts) the id is in Redis, so a session resumed on any worker is sent
// the message under it (MQTT-4.4.0-1); and a QoS 2 message sent on the same queue afterwards, awaited before it
// is sent, carries the ids sent before it to Redis with it (a client that has the later message finds the
// earlier one's id kept after a crash: store-redis-sent-ids.test.ts).
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RedisQueueStore } from '../../apps/broker/src/store/redis-queues.js'
import { storeOf, type AedesStore, type Session, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { waitUntil } from '../helpers/ports.js'
import { useScope } from '../helpers/scope.js'

const require = createRequire(import.meta.url)
const mqemitter = require('mqemitter') as () => { emit (...a: unknown[]): unknown, on (...a: unknown[]): unknown, removeListener (...a: unknown[]): unknown }

const scope = useScope()
let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis.stop() })
beforeEach(async () => { await redis.flush() })

const message = (counter: number, qos: 1 | 2): StoredPacket => ({
  cmd: 'publish', topic: 't/held', payload: Buffer.from(`m-${counter}`), qos, retain: false, dup: false, brokerId: 'b-1', brokerCounter: counter
})
const sub = { clientId: 'sub-a', topic: 't/#', qos: 2 }
const IDS = 'outgoing:sub-a:ids'

async function open (): Promise<{ store: AedesStore, raw: RedisQueueStore }> {
  const conn = new Redis(redis.url, { enableAutoPipelining: true })
  const raw = new RedisQueueStore({ conn })
  // what aedes hands a store at setup: an id, a counter and a bus (the subscriptions' broadcast)
  const mq = mqemitter()
  await raw.setup({ id: 'b-1', mq, counter: 0, publish: mq.emit.bind(mq), subscribe: mq.on.bind(mq), unsubscribe: mq.removeListener.bind(mq) })
  scope.defer(() => raw.destroy())
  return { store: storeOf(raw), raw }
}

/** every HSET a script ran on the client's hash of ids, seen by MONITOR */
async function watchIdWrites (): Promise<{ readonly writes: string[][] }> {
  const r = new Redis(redis.url)
  const monitor = await r.monitor()
  scope.defer(async () => { monitor.disconnect(); r.disconnect() })
  const writes: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'hset' && args[1] === IDS) writes.push(args)
  })
  return { writes }
}

async function hashOfIds (): Promise<Record<string, string>> {
  const r = new Redis(redis.url)
  try { return await r.hgetall(IDS) } finally { r.disconnect() }
}

describe('a QoS 1 message\'s packet id on redis', () => {
  it('is never written when the message is acknowledged within the hold', async () => {
    const { store, raw } = await open()
    const watch = await watchIdWrites()
    const conn: Session = { id: 'sub-a' }
    for (let n = 1; n <= 20; n++) {
      await store.outgoingEnqueueCombi([sub], message(n, 1))
      await store.outgoingUpdate(conn, { ...message(n, 1), messageId: n })
      await store.outgoingClearMessageId(conn, { messageId: n })
    }
    await raw.settled()
    // a write MONITOR shows comes before the reply to a command sent after it
    await raw.settled()
    expect(watch.writes).toEqual([])
    expect(await hashOfIds()).toEqual({})
  })

  it('is in Redis once the store\'s writes have settled, and a session read again is sent the message under it', async () => {
    const { store, raw } = await open()
    const conn: Session = { id: 'sub-a' }
    await store.outgoingEnqueueCombi([sub], message(1, 1))
    await store.outgoingUpdate(conn, { ...message(1, 1), messageId: 41 })
    await raw.settled()
    expect(await hashOfIds()).toEqual({ 'b-1:1': '41' })
    // another worker (its own store) resuming the session
    const { store: other } = await open()
    const read: StoredPacket[] = []
    for await (const p of other.outgoingStream({ id: 'sub-a' })) read.push(p)
    expect(read.map((p) => p.messageId)).toEqual([41])
  })

  it('is in Redis with a QoS 2 message sent on the same queue after it, without waiting for the hold', async () => {
    const { store } = await open()
    const conn: Session = { id: 'sub-a' }
    await store.outgoingEnqueueCombi([sub], message(1, 1))
    await store.outgoingEnqueueCombi([sub], message(2, 2))
    await store.outgoingUpdate(conn, { ...message(1, 1), messageId: 7 })
    // awaited before the QoS 2 PUBLISH goes to the client
    await store.outgoingUpdate(conn, { ...message(2, 2), messageId: 8 })
    expect(await hashOfIds()).toEqual({ 'b-1:1': '7' })
  })

  it('is written by itself once held long enough, with nothing else to carry it', async () => {
    const { store } = await open()
    const conn: Session = { id: 'sub-a' }
    await store.outgoingEnqueueCombi([sub], message(1, 1))
    await store.outgoingUpdate(conn, { ...message(1, 1), messageId: 9 })
    await waitUntil(async () => (await hashOfIds())['b-1:1'] === '9' ? true : undefined, 'the held id written', 5_000, 20)
  })

  it('the id a message was sent under last is the one written', async () => {
    const { store, raw } = await open()
    await store.outgoingEnqueueCombi([sub], message(1, 1))
    await store.outgoingUpdate({ id: 'sub-a' }, { ...message(1, 1), messageId: 3 })
    // the session's next connection sends it again under another id
    await store.outgoingUpdate({ id: 'sub-a' }, { ...message(1, 1), messageId: 4 })
    await raw.settled()
    expect(await hashOfIds()).toEqual({ 'b-1:1': '4' })
  })
})
