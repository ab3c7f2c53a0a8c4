// Warden's Redis store for persistent sessions' queues (apps/broker/src/store/redis-queues.ts) beside
// aedes-persistence-redis 12, the store it replaces on the message path, on one real redis-server: each reads
// the queues the other wrote (an upgrade, and workers of both kinds in one cluster during a rolling one),
// MQTT 5 properties and message expiry included, and an acknowledgement arriving late never takes a message
// from another subscriber's queue.
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RedisQueueStore } from '../../apps/broker/src/store/redis-queues.js'
import { storeOf, type AedesStore, type Session, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { cappedCopy } from '../../apps/broker/src/store/queued-qos.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

const require = createRequire(import.meta.url)
const mqemitter = require('mqemitter') as () => { emit: unknown, on: unknown, removeListener: unknown }
// a dependency of the broker's package only
type OldStore = new (opts: { conn: Redis }) => { setup (broker: object): Promise<void>, destroy (): Promise<void> }
const brokerRequire = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const AsyncRedisPersistence = brokerRequire('aedes-persistence-redis/asyncPersistence.js') as OldStore

let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis.stop() })
beforeEach(async () => { await redis.flush() })

interface Opened { store: AedesStore, destroy (): Promise<void> }

/** what aedes hands a store at setup: an id, a counter and a bus (the subscriptions' broadcast) */
function fakeBroker (id: string): object {
  const mq = mqemitter() as { emit: (...a: unknown[]) => unknown, on: (...a: unknown[]) => unknown, removeListener: (...a: unknown[]) => unknown }
  return { id, mq, counter: 0, publish: mq.emit.bind(mq), subscribe: mq.on.bind(mq), unsubscribe: mq.removeListener.bind(mq) }
}

async function open (kind: 'old' | 'warden', brokerId: string): Promise<Opened> {
  const conn = new Redis(redis.url, { enableAutoPipelining: true })
  const s = kind === 'old' ? new AsyncRedisPersistence({ conn }) : new RedisQueueStore({ conn })
  await s.setup(fakeBroker(brokerId))
  return { store: storeOf(s), destroy: () => s.destroy() }
}

const later = Date.now() + 3_600_000
const props = {
  userProperties: { site: 'b-7', tags: ['x', 'y'] }, correlationData: Buffer.from('c-1'), contentType: 'text/plain', payloadFormatIndicator: true
}
const message = (counter: number, qos: 1 | 2, brokerId: string): StoredPacket => ({
  cmd: 'publish', topic: `t/${counter}`, payload: Buffer.from(`m-${counter}`), qos, retain: false, dup: false,
  brokerId, brokerCounter: counter, properties: props, messageExpiry: later
})
const subs = (...ids: string[]): Array<{ clientId: string, topic: string, qos: number }> => ids.map((clientId) => ({ clientId, topic: 't/#', qos: 2 }))

async function queued (store: AedesStore, clientId: string): Promise<StoredPacket[]> {
  const out: StoredPacket[] = []
  for await (const p of store.outgoingStream({ id: clientId })) out.push(p)
  return out
}

/** as aedes resumes a session: every queued packet sent (under its stored id, or a new one), then acknowledged */
async function drain (store: AedesStore, clientId: string): Promise<StoredPacket[]> {
  const conn: Session = { id: clientId }
  const got = await queued(store, clientId)
  let next = 100
  for (const p of got) {
    const sent = { ...p, messageId: p.messageId ?? next++ }
    await store.outgoingUpdate(conn, sent)
    await store.outgoingClearMessageId(conn, { messageId: sent.messageId })
  }
  return got
}

/** keys of queued messages left in Redis */
async function leftovers (): Promise<string[]> {
  const r = new Redis(redis.url)
  try { return (await r.keys('*')).filter((k) => k.startsWith('packet:') || k.startsWith('outgoing')).sort() } finally { r.disconnect() }
}

/** Writes, in `kind`'s store, 4 messages for sub-a and sub-b; sub-a is sent the 2nd (QoS 1, id 7) and 3rd (QoS 2, id 8, PUBREL too). */
async function writeQueues (kind: 'old' | 'warden'): Promise<void> {
  const w = await open(kind, 'b-old')
  const a: Session = { id: 'sub-a' }
  await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(1, 1, 'b-old'))
  await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(2, 1, 'b-old'))
  await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(3, 2, 'b-old'))
  await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(4, 2, 'b-old'))
  await w.store.outgoingUpdate(a, { ...message(2, 1, 'b-old'), messageId: 7 })
  await w.store.outgoingUpdate(a, { ...message(3, 2, 'b-old'), messageId: 8 })
  await w.store.outgoingUpdate(a, { cmd: 'pubrel', messageId: 8 } as unknown as StoredPacket)
  await w.destroy()
}

/** `qos1Ids`: whether the reader finds the id a QoS 1 message was sent under (aedes-persistence-redis does not read Warden's) */
async function readQueues (kind: 'old' | 'warden', qos1Ids = true): Promise<void> {
  const r = await open(kind, 'b-new')
  try {
    const a = await drain(r.store, 'sub-a')
    // the PUBREL took its message's place at the end of the queue, as aedes-persistence-redis does it
    // (aedes-persistence-redis writes a PUBREL's counter as a string)
    expect(a.map((p) => [p.cmd, Number(p.brokerCounter), p.messageId ?? null])).toEqual([
      ['publish', 1, null], ['publish', 2, qos1Ids ? 7 : null], ['publish', 4, null], ['pubrel', 3, 8]
    ])
    const first = a[0] as StoredPacket
    expect(first.payload).toEqual(Buffer.from('m-1'))
    expect(first.properties).toEqual(props)
    expect(first.messageExpiry).toBe(later)
    const b = await drain(r.store, 'sub-b')
    expect(b.map((p) => [p.cmd, p.brokerCounter, p.payload?.toString()])).toEqual([
      ['publish', 1, 'm-1'], ['publish', 2, 'm-2'], ['publish', 3, 'm-3'], ['publish', 4, 'm-4']
    ])
    expect((b[2] as StoredPacket).properties).toEqual(props)
    expect(await queued(r.store, 'sub-a')).toEqual([])
    expect(await queued(r.store, 'sub-b')).toEqual([])
  } finally {
    await r.destroy()
  }
  if (kind === 'old') {
    // it leaves the hash of ids it does not know of; Warden's store, finding the queue empty, removes it
    expect(await leftovers()).toEqual(['outgoing:sub-a:ids'])
    const w = await open('warden', 'b-3')
    try { expect(await queued(w.store, 'sub-a')).toEqual([]) } finally { await w.destroy() }
  }
  expect(await leftovers()).toEqual([])
}

describe('Warden\'s Redis queue store and aedes-persistence-redis 12 on one Redis', () => {
  it('reads the queues aedes-persistence-redis wrote (an upgrade): QoS 1 and 2, sent ids, a PUBREL, MQTT 5 properties, expiry', async () => {
    await writeQueues('old')
    await readQueues('warden')
  })

  it('writes queues aedes-persistence-redis reads (a worker not yet upgraded in a rolling reload)', async () => {
    await writeQueues('warden')
    // Warden keeps a QoS 1 message's id in a hash of the client's: the old store sends it under a new one
    await readQueues('old', false)
  })

  it('a QoS 2 message Warden sent and was not acknowledged: a worker not yet upgraded resends it under its id and completes it', async () => {
    const w = await open('warden', 'b-1')
    await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(1, 2, 'b-1'))
    await w.store.outgoingUpdate({ id: 'sub-a' }, { ...message(1, 2, 'b-1'), messageId: 8 })
    await w.destroy()
    const r = await open('old', 'b-2')
    try {
      const [p] = await queued(r.store, 'sub-a')
      expect([p?.cmd, p?.messageId, p?.payload.toString()]).toEqual(['publish', 8, 'm-1'])
      // as aedes runs QoS 2: sent again, PUBREC (the PUBREL stored), PUBCOMP
      const a: Session = { id: 'sub-a' }
      await r.store.outgoingUpdate(a, p as StoredPacket)
      await r.store.outgoingUpdate(a, { cmd: 'pubrel', messageId: 8 } as unknown as StoredPacket)
      await r.store.outgoingClearMessageId(a, { messageId: 8 })
      expect(await queued(r.store, 'sub-a')).toEqual([])
      expect((await drain(r.store, 'sub-b')).map((x) => x.payload.toString())).toEqual(['m-1'])
    } finally {
      await r.destroy()
    }
    expect(await leftovers()).toEqual([])
  })

  it('a message sent to two subscribers under two packet ids: each is read back with its own (MQTT-4.4.0-1)', async () => {
    const w = await open('warden', 'b-1')
    const sa: Session = { id: 'sub-a' }
    const sb: Session = { id: 'sub-b' }
    await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(1, 1, 'b-1'))
    await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(2, 2, 'b-1'))
    await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(3, 2, 'b-1'))
    for (const [s, base] of [[sa, 10], [sb, 20]] as const) {
      await w.store.outgoingUpdate(s, { ...message(1, 1, 'b-1'), messageId: base + 1 })
      await w.store.outgoingUpdate(s, { ...message(2, 2, 'b-1'), messageId: base + 2 })
      await w.store.outgoingUpdate(s, { ...message(3, 2, 'b-1'), messageId: base + 3 })
      await w.store.outgoingUpdate(s, { cmd: 'pubrel', messageId: base + 3 } as unknown as StoredPacket)
    }
    await w.destroy()
    // read by another worker (or after a restart): each subscriber's own ids, its queue in order
    const r = await open('warden', 'b-2')
    try {
      for (const [id, base] of [['sub-a', 10], ['sub-b', 20]] as const) {
        expect((await queued(r.store, id)).map((p) => [p.cmd, p.brokerCounter, p.messageId])).toEqual([
          ['publish', 1, base + 1], ['publish', 2, base + 2], ['pubrel', 3, base + 3]
        ])
      }
      await drain(r.store, 'sub-a')
      // sub-b's are intact
      expect((await queued(r.store, 'sub-b')).map((p) => [p.cmd, p.brokerCounter, p.messageId, p.payload?.toString()])).toEqual([
        ['publish', 1, 21, 'm-1'], ['publish', 2, 22, 'm-2'], ['pubrel', 3, 23, undefined]
      ])
      await drain(r.store, 'sub-b')
    } finally {
      await r.destroy()
    }
    expect(await leftovers()).toEqual([])
  })

  it('a client left with no subscription (a clean start, an expired session): its queue goes, each message counted off', async () => {
    const w = await open('warden', 'b-1')
    try {
      const sa: Session = { id: 'sub-a' }
      await w.store.addSubscriptions(sa, [{ topic: 't/#', qos: 2 }, { topic: 'u/#', qos: 1 }])
      await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(1, 1, 'b-1'))
      await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(2, 2, 'b-1'))
      await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(3, 2, 'b-1'))
      await w.store.outgoingEnqueueCombi(subs('sub-a'), message(4, 1, 'b-1'))
      await w.store.outgoingUpdate(sa, { ...message(1, 1, 'b-1'), messageId: 1 })
      await w.store.outgoingUpdate(sa, { ...message(2, 2, 'b-1'), messageId: 2 })
      await w.store.outgoingUpdate(sa, { ...message(3, 2, 'b-1'), messageId: 3 })
      await w.store.outgoingUpdate(sa, { cmd: 'pubrel', messageId: 3 } as unknown as StoredPacket)
      // one of two filters: the queue stays
      await w.store.removeSubscriptions(sa, ['u/#'])
      expect((await queued(w.store, 'sub-a')).length).toBe(4)
      // the last one (aedes's cleanSubscriptions does so on a clean start)
      await w.store.removeSubscriptions(sa, ['t/#'])
      expect(await queued(w.store, 'sub-a')).toEqual([])
      expect((await drain(w.store, 'sub-b')).map((p) => p.payload.toString())).toEqual(['m-1', 'm-2', 'm-3'])
    } finally {
      await w.destroy()
    }
    expect(await leftovers()).toEqual([])
  })

  it('an acknowledgement repeated on a later connection does not take the message from another subscriber', async () => {
    const w = await open('warden', 'b-1')
    try {
      await w.store.outgoingEnqueueCombi(subs('sub-a', 'sub-b'), message(1, 1, 'b-1'))
      const first: Session = { id: 'sub-a' }
      await w.store.outgoingUpdate(first, { ...message(1, 1, 'b-1'), messageId: 1 })
      expect((await w.store.outgoingClearMessageId(first, { messageId: 1 }))?.brokerCounter).toBe(1)
      // a later connection of sub-a: an acknowledgement of an id it was never sent on it is not one
      const second: Session = { id: 'sub-a' }
      expect(await w.store.outgoingClearMessageId(second, { messageId: 1 })).toBeUndefined()
      // sent again under the same id (a consumer group taking back a copy does so) and acknowledged again
      await w.store.outgoingUpdate(second, { ...message(1, 1, 'b-1'), messageId: 1 })
      await w.store.outgoingClearMessageId(second, { messageId: 1 })
      expect((await queued(w.store, 'sub-a')).length).toBe(0)
      expect((await queued(w.store, 'sub-b')).map((p) => p.payload.toString())).toEqual(['m-1'])
    } finally {
      await w.destroy()
    }
  })

  it('leaves out of a queue read on a connection what that connection was sent meanwhile; a later one is sent it again', async () => {
    const { store, destroy } = await open('warden', 'b1')
    try {
      for (const [n, qos] of [[1, 1], [2, 1], [3, 2]] as const) await store.outgoingEnqueueCombi(subs('live'), message(n, qos, 'b1'))
      // the resuming connection is sent 2 and 3 live (registered before its queue is read), under ids 7 and 8
      const conn: Session = { id: 'live', conn: {} } as Session // a connection (an aedes client), not a session by its id
      await store.outgoingUpdate(conn, { ...message(2, 1, 'b1'), messageId: 7 })
      await store.outgoingUpdate(conn, { ...message(3, 2, 'b1'), messageId: 8 })
      const here: StoredPacket[] = []
      for await (const p of store.outgoingStream(conn)) here.push(p)
      expect(here.map((p) => String(p.payload))).toEqual(['m-1'])
      // a later connection: all three, the two sent under the ids they were sent under
      expect((await queued(store, 'live')).map((p) => [String(p.payload), p.messageId])).toEqual([['m-1', null], ['m-2', 7], ['m-3', 8]])
    } finally {
      await destroy()
    }
  })

  it('leaves out a QoS 2 message the connection is sent while its queue is being read (read before the send reached Redis)', async () => {
    const { store, destroy } = await open('warden', 'b1')
    const pauser = new Redis(redis.url)
    try {
      await store.outgoingEnqueueCombi(subs('race'), message(1, 2, 'b1'))
      const conn: Session = { id: 'race', conn: {} } as Session // a connection (an aedes client), not a session by its id
      // Redis holds every command back a moment: the read's LRANGE is in, the live send's write goes in after it
      await pauser.call('CLIENT', 'PAUSE', '300', 'ALL')
      const read = (async () => {
        const here: StoredPacket[] = []
        for await (const p of store.outgoingStream(conn)) here.push(p)
        return here
      })()
      await new Promise((resolve) => setImmediate(resolve))
      // sent live on the same connection once it was registered, under id 5
      const sent = store.outgoingUpdate(conn, { ...message(1, 2, 'b1'), messageId: 5 })
      const here = await read
      await sent
      // in flight on this connection already: not to send again (it went under a new id, a second message)
      expect(here.map((p) => [String(p.payload), p.messageId])).toEqual([])
      expect((await queued(store, 'race')).map((p) => [String(p.payload), p.messageId])).toEqual([['m-1', 5]])
    } finally {
      pauser.disconnect()
      await destroy()
    }
  })

  it('a message listed twice in a queue is read once, and once sent at QoS 2 not again under another id', async () => {
    const { store, destroy } = await open('warden', 'b1')
    try {
      // the script call that queues it run twice: Redis ran it, persisted it (AOF) and was killed before it
      // answered, and ioredis sent it again once Redis was back (seen in cluster-redis-outage.test.ts)
      await store.outgoingEnqueueCombi(subs('twice'), message(1, 2, 'b1'))
      await store.outgoingEnqueueCombi(subs('twice'), message(1, 2, 'b1'))
      const read = async (): Promise<unknown[]> => (await queued(store, 'twice')).map((p) => [p.cmd, String(p.payload), p.messageId ?? null])
      expect(await read()).toEqual([['publish', 'm-1', null]])
      const conn: Session = { id: 'twice', conn: {} } as Session // a connection (an aedes client)
      await store.outgoingUpdate(conn, { ...message(1, 2, 'b1'), messageId: 5 })
      expect(await read()).toEqual([['publish', 'm-1', 5]])
      await store.outgoingUpdate(conn, { cmd: 'pubrel', messageId: 5 } as unknown as StoredPacket)
      expect(await read()).toEqual([['pubrel', 'undefined', 5]])
      // PUBCOMP: nothing of it is left
      await store.outgoingClearMessageId(conn, { messageId: 5 })
      expect(await read()).toEqual([])
      expect(await leftovers()).toEqual([])
    } finally {
      await destroy()
    }
  })

  it('a message queued in two calls (its subscribers granted two QoS) stays for the second queue when the first acknowledges it', async () => {
    const { store, destroy } = await open('warden', 'b1')
    try {
      // as store/queued-qos.ts queues a QoS 2 message: the QoS 1 subscriptions' copy, then the QoS 2 ones'
      await store.outgoingEnqueueCombi(subs('at-1'), { ...message(1, 2, 'b1'), qos: 1 })
      await store.outgoingEnqueueCombi(subs('at-2'), message(1, 2, 'b1'))
      expect((await drain(store, 'at-1')).map((p) => String(p.payload))).toEqual(['m-1'])
      // the second subscriber, away until now (or whose live copy the bus lost), still has it
      expect((await drain(store, 'at-2')).map((p) => [String(p.payload), p.qos])).toEqual([['m-1', 2]])
      expect(await leftovers()).toEqual([])
    } finally {
      await destroy()
    }
  })

  it('a message queued at two QoS (queued-qos.ts) is read back from each queue at its own, whatever the order of the writes', async () => {
    const { store, destroy } = await open('warden', 'b1')
    try {
      // as queued-qos.ts queues a QoS 2 message for subscriptions granted QoS 1 (and 0) and 2: the capped copy first
      const m1 = message(1, 2, 'b1')
      await store.outgoingEnqueueCombi(subs('at-1', 'at-0'), cappedCopy(m1, 1))
      await store.outgoingEnqueueCombi(subs('at-2'), m1)
      // a capped copy's call after the published one's (a call ioredis resent): the record keeps the published form
      await store.outgoingEnqueueCombi(subs('at-1b'), cappedCopy(m1, 1))
      // every subscriber capped: the record is the capped form, the only one any queue holds
      await store.outgoingEnqueueCombi(subs('at-1'), cappedCopy(message(2, 2, 'b1'), 1))
      expect((await queued(store, 'at-2')).map((p) => [Number(p.brokerCounter), p.qos])).toEqual([[1, 2]])
      expect((await drain(store, 'at-1')).map((p) => [Number(p.brokerCounter), p.qos])).toEqual([[1, 1], [2, 1]])
      expect((await drain(store, 'at-0')).map((p) => [Number(p.brokerCounter), p.qos])).toEqual([[1, 1]])
      expect((await drain(store, 'at-1b')).map((p) => [Number(p.brokerCounter), p.qos])).toEqual([[1, 1]])
      expect((await drain(store, 'at-2')).map((p) => [Number(p.brokerCounter), p.qos])).toEqual([[1, 2]])
      // the QoS kept for each queue went with its acknowledgement
      expect(await leftovers()).toEqual([])
    } finally {
      await destroy()
    }
  })
})
