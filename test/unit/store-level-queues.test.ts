// Warden's level store (apps/broker/src/store/level-queues.ts) beyond aedes-persistence's abstract suite:
// it reads what aedes-persistence-level wrote (and the other way round), MQTT 5 properties and message
// expiry kept; one batch per turn; a QoS 1 message costs a put and a delete; a write that must be on disk
// is on disk when its promise resolves.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Level } from 'level'
import aedesPersistenceLevel from 'aedes-persistence-level'
import { LevelQueueStore } from '../../apps/broker/src/store/level-queues.js'
import type { QueueSub, StoredPacket } from '../../apps/broker/src/aedes/store.js'
import type { IdAtQueue } from '../../apps/broker/src/aedes/queued-ids.js'
import msgpack from 'msgpack-lite'

const decode = (b: Buffer): StoredPacket => msgpack.decode(b) as StoredPacket

interface AnyStore {
  setup? (broker: unknown): Promise<void>
  outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: object): Promise<unknown>
  outgoingUpdate (client: { id: string }, packet: object): Promise<unknown>
  outgoingClearMessageId (client: { id: string }, packet: { messageId: number }): Promise<StoredPacket | undefined>
  outgoingStream (client: { id: string }): AsyncIterable<StoredPacket>
  incomingStorePacket (client: { id: string }, packet: object): Promise<void>
  incomingGetPacket (client: { id: string }, packet: { messageId: number }): Promise<StoredPacket>
  destroy (): Promise<void>
}

const broker = { id: 'b1', counter: 0 }
const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

async function freshDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'warden-level-queues-'))
  dirs.push(d)
  return d
}

async function openDb (dir: string): Promise<Level<string, unknown>> {
  const db = new Level<string, unknown>(dir)
  await db.open()
  return db
}

async function openWarden (dir: string): Promise<{ store: LevelQueueStore, db: Level<string, unknown> }> {
  const db = await openDb(dir)
  const store = new LevelQueueStore(db)
  await store.setup(broker)
  return { store, db }
}

async function openAedesLevel (dir: string): Promise<AnyStore> {
  const store = aedesPersistenceLevel(await openDb(dir)) as unknown as AnyStore
  await store.setup?.(broker)
  return store
}

async function list (stream: AsyncIterable<StoredPacket>): Promise<StoredPacket[]> {
  const out = []
  for await (const p of stream) out.push(p)
  return out
}

async function keys (db: Level<string, unknown>): Promise<string[]> {
  const out = []
  for await (const k of db.keys()) out.push(k)
  return out
}

/** an MQTT 5 message with properties and an absolute expiry, as aedes 2 queues it */
const v5 = (counter: number, qos: 1 | 2): object => ({
  cmd: 'publish',
  topic: 'sensors/a',
  payload: Buffer.from(`m${counter}`),
  qos,
  retain: false,
  dup: false,
  brokerId: 'b1',
  brokerCounter: counter,
  messageExpiry: 1_900_000_000_000 + counter,
  properties: { userProperties: { site: 'north' }, contentType: 'text/plain', correlationData: Buffer.from('c') }
})
const client = { id: 'reader/1' }

/** what a packet read back must still carry */
const carried = (p: StoredPacket | undefined): unknown => ({
  payload: String(p?.payload),
  messageExpiry: p?.messageExpiry,
  properties: p?.properties
})
const expected = (counter: number): unknown => ({
  payload: `m${counter}`,
  messageExpiry: 1_900_000_000_000 + counter,
  properties: { userProperties: { site: 'north' }, contentType: 'text/plain', correlationData: Buffer.from('c') }
})

describe('LevelQueueStore', () => {
  it('reads the queue, packet ids and incoming QoS 2 packets aedes-persistence-level wrote, MQTT 5 properties and expiry kept', async () => {
    const dir = await freshDir()
    const old = await openAedesLevel(dir)
    await old.outgoingEnqueueCombi([{ clientId: client.id }], v5(1, 2))
    await old.outgoingEnqueueCombi([{ clientId: client.id }], v5(2, 1))
    await old.outgoingUpdate(client, { ...v5(1, 2), messageId: 5 })
    await old.incomingStorePacket({ id: 'pub' }, { ...v5(3, 2), messageId: 9 })
    await old.destroy()

    const { store } = await openWarden(dir)
    const queued = await list(store.outgoingStream(client))
    expect(queued.map((p) => p.messageId)).toEqual([5, null])
    expect(queued.map(carried)).toEqual([expected(1), expected(2)])
    expect(store.hasIncoming('pub')).toBe(true)
    expect(carried(await store.incomingGetPacket({ id: 'pub' }, { messageId: 9 }))).toEqual(expected(3))
    // a PUBACK for the id the old store recorded finds its packet without a read
    expect(carried(await store.outgoingClearMessageId(client, { messageId: 5 }))).toEqual(expected(1))
    expect((await list(store.outgoingStream(client))).map(carried)).toEqual([expected(2)])
    await store.destroy()
  })

  it('writes what aedes-persistence-level reads back (a QoS 2 id on disk, a QoS 1 one not)', async () => {
    const dir = await freshDir()
    const { store } = await openWarden(dir)
    await store.outgoingEnqueueCombi([{ clientId: client.id, qos: 2 }], v5(1, 2) as StoredPacket)
    await store.outgoingEnqueueCombi([{ clientId: client.id, qos: 1 }], v5(2, 1) as StoredPacket)
    await store.outgoingUpdate(client, { ...v5(1, 2), messageId: 7 } as StoredPacket)
    await store.outgoingUpdate(client, { ...v5(2, 1), messageId: 8 } as StoredPacket)
    await store.incomingStorePacket({ id: 'pub' }, { ...v5(3, 2), messageId: 9 } as StoredPacket)
    // in this run the QoS 1 message's id is known (a resend on the client's next connection uses it)
    expect((await list(store.outgoingStream({ id: client.id }))).map((p) => p.messageId)).toEqual([7, 8])
    await store.destroy()

    const old = await openAedesLevel(dir)
    expect((await list(old.outgoingStream(client))).map(carried)).toEqual([expected(1), expected(2)])
    expect(carried(await old.outgoingClearMessageId(client, { messageId: 7 }))).toEqual(expected(1))
    // the QoS 1 id lived in memory only: after a restart that message is sent again under a new id
    expect(await old.outgoingClearMessageId(client, { messageId: 8 })).toBeUndefined()
    expect(carried(await old.incomingGetPacket({ id: 'pub' }, { messageId: 9 }))).toEqual(expected(3))
    await old.destroy()
  })

  it('drops a packet id key whose queued message is gone (left by a crash between two writes)', async () => {
    const dir = await freshDir()
    const old = await openAedesLevel(dir)
    await old.outgoingEnqueueCombi([{ clientId: client.id }], v5(1, 2))
    await old.outgoingUpdate(client, { ...v5(1, 2), messageId: 5 })
    await old.destroy()
    const raw = await openDb(dir)
    await raw.del(`outgoing:${encodeURIComponent(client.id)}:b1:${'1'.padStart(16, '0')}`)
    await raw.close()

    const { store, db } = await openWarden(dir)
    expect(await store.outgoingClearMessageId(client, { messageId: 5 })).toBeUndefined()
    expect(await list(store.outgoingStream(client))).toEqual([])
    expect(await keys(db)).toEqual([])
    await store.destroy()
  })

  it('writes the messages queued in one event-loop turn in one batch, on disk when the promise resolves', async () => {
    const { store, db } = await openWarden(await freshDir())
    const before = store.commits.batches
    await Promise.all(Array.from({ length: 50 }, (_, i) =>
      store.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], v5(i + 1, 1) as StoredPacket)))
    expect(store.commits.batches - before).toBe(1)
    expect((await keys(db)).filter((k) => k.startsWith('outgoing:'))).toHaveLength(100)
    await store.destroy()
  })

  it('costs a QoS 1 message one put when queued and one delete when acknowledged, and nothing is left', async () => {
    const { store, db } = await openWarden(await freshDir())
    const ops = store.commits.ops
    await store.outgoingEnqueueCombi([{ clientId: client.id }], v5(1, 1) as StoredPacket)
    await store.outgoingUpdate(client, { ...v5(1, 1), messageId: 3 } as StoredPacket)
    expect(carried(await store.outgoingClearMessageId(client, { messageId: 3 }))).toEqual(expected(1))
    // a second PUBACK for the same id finds nothing (no read either)
    expect(await store.outgoingClearMessageId(client, { messageId: 3 })).toBeUndefined()
    expect(await list(store.outgoingStream(client))).toEqual([])
    expect(store.commits.ops - ops).toBe(2)
    expect(await keys(db)).toEqual([])
    await store.destroy()
  })

  it('has a QoS 2 packet id on disk before outgoingUpdate resolves, and refuses an update of a message not queued', async () => {
    const { store, db } = await openWarden(await freshDir())
    await store.outgoingEnqueueCombi([{ clientId: client.id }], v5(1, 2) as StoredPacket)
    await store.outgoingUpdate(client, { ...v5(1, 2), messageId: 4 } as StoredPacket)
    expect(await keys(db)).toContain(`outgoing-id:${encodeURIComponent(client.id)}:${'4'.padStart(16, '0')}`)
    // the PUBREL replaces it under the same id, found from memory
    await store.outgoingUpdate(client, { cmd: 'pubrel', messageId: 4 } as unknown as StoredPacket)
    expect((await list(store.outgoingStream({ id: client.id }))).map((p) => p.cmd)).toEqual(['pubrel'])
    await expect(store.outgoingUpdate(client, { ...v5(2, 2), messageId: 6 } as StoredPacket)).rejects.toThrow('no such packet')
    await expect(store.outgoingUpdate(client, { cmd: 'pubrel', messageId: 99 } as unknown as StoredPacket)).rejects.toThrow('no such packet')
    await store.destroy()
  })

  it('leaves out of a queue read on a connection what that connection was sent meanwhile; a later one is sent it again', async () => {
    const { store, db } = await openWarden(await freshDir())
    const reader = 'reader/live'
    for (const [n, qos] of [[1, 1], [2, 1], [3, 2]] as const) await store.outgoingEnqueueCombi([{ clientId: reader }], v5(n, qos) as StoredPacket)
    // the resuming connection is sent 2 and 3 live (registered before its queue is read), under ids 7 and 8
    const conn = { id: reader, conn: {} } // a connection (an aedes client), not a session by its id
    await store.outgoingUpdate(conn, { ...v5(2, 1), messageId: 7 } as StoredPacket)
    await store.outgoingUpdate(conn, { ...v5(3, 2), messageId: 8 } as StoredPacket)
    expect((await list(store.outgoingStream(conn))).map((p) => String(p.payload))).toEqual(['m1'])
    // a later connection: all three, the two sent under the ids they were sent under
    const again = (await list(store.outgoingStream({ id: reader }))).map((p) => [String(p.payload), p.messageId])
    expect(again).toEqual([['m1', null], ['m2', 7], ['m3', 8]])
    await store.destroy()
    await db.close()
  })

  it('encodes a QoS 2 message\'s staged records only if read or written, and reads a record as a copy of its own', async () => {
    const dir = await freshDir()
    const { store, db } = await openWarden(dir)
    const packet = { ...v5(70, 2), messageId: 7 } as unknown as StoredPacket
    let made = 0
    const owner = '\u0000warden-qos2-owner:pub'
    store.stage(packet, [
      { clientId: owner, messageId: 7, packet: () => { made++; return { ...packet, topic: '', payload: Buffer.from('{"u":"pub"}') } }, unlessQueued: true },
      { clientId: 'pub', messageId: 7, packet }
    ])
    store.attach(packet, [{ clientId: 'pub', packet: { ...packet, wardenQueued: 1 } }])
    await store.outgoingEnqueueCombi([{ clientId: client.id }], packet)
    // the owner record was dropped unmade once the message was queued; the packet went to disk flagged
    expect(made).toBe(0)
    expect(store.holds(owner, 7)).toBe(false)
    expect(store.holds('pub', 7)).toBe(true)
    const a = await store.incomingGetPacket({ id: 'pub' }, { messageId: 7 })
    a.topic = 'changed by a reader'
    const b = await store.incomingGetPacket({ id: 'pub' }, { messageId: 7 })
    expect(b).toMatchObject({ topic: 'sensors/a', wardenQueued: 1, messageId: 7 })
    expect(Buffer.from(b.payload).toString()).toBe('m70')
    await store.destroy()
    await db.close()
    const again = await openWarden(dir)
    expect(await again.store.incomingGetPacket({ id: 'pub' }, { messageId: 7 })).toMatchObject({ topic: 'sensors/a', wardenQueued: 1 })
    expect((await keys(again.db)).filter((k) => k.startsWith('incoming:'))).toEqual(['incoming:pub:0000000000000007'])
    await again.store.destroy()
    await again.db.close()
  })

  // ordered-delivery.ts leaves the level store's incomingGetPacket unordered because of this: an answer settled
  // when it is returned reaches its caller's .then in call order, whatever the answers are
  it('answers incomingGetPacket already settled, hit or miss, read back after a restart too', async () => {
    const dir = await freshDir()
    const { store, db } = await openWarden(dir)
    await store.incomingStorePacket({ id: 'pub' }, { ...v5(71, 2), messageId: 8 } as StoredPacket)
    const order: string[] = []
    const ask = (s: AnyStore, id: number): void => {
      s.incomingGetPacket({ id: 'pub' }, { messageId: id }).then(() => order.push(`hit ${id}`), () => order.push(`miss ${id}`))
    }
    ask(store, 9)
    ask(store, 8)
    ask(store, 10)
    // one microtask later: every answer was given (a promise settled by a later read would not have been)
    await Promise.resolve()
    expect(order).toEqual(['miss 9', 'hit 8', 'miss 10'])
    await store.destroy()
    await db.close()
    const again = await openWarden(dir)
    order.length = 0
    ask(again.store, 8)
    ask(again.store, 11)
    await Promise.resolve()
    expect(order).toEqual(['hit 8', 'miss 11'])
    await again.store.destroy()
    await again.db.close()
  })

  describe('a QoS 2 message queued with its packet id (aedes/queued-ids.ts)', () => {
    /** gives each client the ids of `ids` in turn, as queued-ids.ts would for a live connection; records drops */
    function assigner (live: Record<string, object>, ids: number[]): { assign: IdAtQueue, dropped: number[] } {
      const dropped: number[] = []
      const assign: IdAtQueue = (clientId) => {
        const conn = live[clientId]
        const id = ids.shift()
        if (conn === undefined || id === undefined) return undefined
        return { id, client: conn, drop: () => { dropped.push(id) } }
      }
      return { assign, dropped }
    }
    const idKey = (c: string, id: number): string => `outgoing-id:${encodeURIComponent(c)}:${String(id).padStart(16, '0')}`
    const queueKeys = async (db: Level<string, unknown>): Promise<string[]> => (await keys(db)).filter((k) => k.startsWith('outgoing'))

    it('writes the id in the queue entry: no id key, the PUBREL replaces the entry, the PUBCOMP removes it (3 operations)', async () => {
      const { store, db } = await openWarden(await freshDir())
      const conn = { id: client.id, conn: {} }
      store.giveIdsAtQueue(assigner({ [client.id]: conn }, [21]).assign)
      const ops = store.commits.ops
      await store.outgoingEnqueueCombi([{ clientId: client.id, qos: 2 } as QueueSub], v5(1, 2) as StoredPacket)
      const [entry] = await queueKeys(db)
      expect(entry).toMatch(/^outgoing:/)
      expect(await db.get(entry as string, { valueEncoding: 'buffer' }).then((b) => decode(b as Buffer))).toMatchObject({ messageId: 21, qos: 2 })
      // aedes sends it under that id: on disk already, nothing written
      const before = store.commits.ops
      await store.outgoingUpdate(conn, { ...v5(1, 2), messageId: 21 } as StoredPacket)
      expect(store.commits.ops).toBe(before)
      await store.outgoingUpdate(conn, { cmd: 'pubrel', messageId: 21 } as unknown as StoredPacket)
      expect(await queueKeys(db)).toEqual([entry])
      expect(await db.get(entry as string, { valueEncoding: 'buffer' }).then((b) => decode(b as Buffer))).toMatchObject({ cmd: 'pubrel', messageId: 21 })
      expect(await store.outgoingClearMessageId(conn, { messageId: 21 })).toMatchObject({ cmd: 'pubrel' })
      // (a queue read waits for the writes under way)
      expect(await list(store.outgoingStream({ id: client.id }))).toEqual([])
      expect(store.commits.ops - ops).toBe(3)
      expect(await keys(db)).toEqual([])
      await store.destroy()
    })

    it('is read back after a restart under that id: the PUBLISH if no PUBREC came, else the PUBREL; its PUBCOMP removes it', async () => {
      const dir = await freshDir()
      const first = await openWarden(dir)
      const conn = { id: client.id, conn: {} }
      first.store.giveIdsAtQueue(assigner({ [client.id]: conn }, [31, 32]).assign)
      const sub = { clientId: client.id, qos: 2 } as QueueSub
      await first.store.outgoingEnqueueCombi([sub], v5(1, 2) as StoredPacket)
      await first.store.outgoingEnqueueCombi([sub], v5(2, 2) as StoredPacket)
      await first.store.outgoingUpdate(conn, { ...v5(1, 2), messageId: 31 } as StoredPacket)
      await first.store.outgoingUpdate(conn, { ...v5(2, 2), messageId: 32 } as StoredPacket)
      await first.store.outgoingUpdate(conn, { cmd: 'pubrel', messageId: 31 } as unknown as StoredPacket)
      await first.store.destroy()
      await first.db.close()
      // the next run knows nothing of these ids until it reads the queue
      const { store, db } = await openWarden(dir)
      const next = { id: client.id, conn: {} }
      const read = await list(store.outgoingStream(next))
      expect(read.map((p) => [p.cmd, p.messageId])).toEqual([['pubrel', 31], ['publish', 32]])
      expect(carried(read[1])).toEqual(expected(2))
      // sent again under 32: nothing to write
      const ops = store.commits.ops
      await store.outgoingUpdate(next, { ...read[1], messageId: 32 } as StoredPacket)
      expect(store.commits.ops).toBe(ops)
      expect(await store.outgoingClearMessageId(next, { messageId: 31 })).toMatchObject({ cmd: 'pubrel' })
      await store.outgoingUpdate(next, { cmd: 'pubrel', messageId: 32 } as unknown as StoredPacket)
      expect(await store.outgoingClearMessageId(next, { messageId: 32 })).toMatchObject({ cmd: 'pubrel' })
      expect(await list(store.outgoingStream({ id: client.id }))).toEqual([])
      expect(await keys(db)).toEqual([])
      await store.destroy()
    })

    it('sent under another id: that id is written apart and is the one read back', async () => {
      const dir = await freshDir()
      const first = await openWarden(dir)
      const conn = { id: client.id, conn: {} }
      first.store.giveIdsAtQueue(assigner({ [client.id]: conn }, [41]).assign)
      await first.store.outgoingEnqueueCombi([{ clientId: client.id, qos: 2 } as QueueSub], v5(1, 2) as StoredPacket)
      await first.store.outgoingUpdate(conn, { ...v5(1, 2), messageId: 42 } as StoredPacket)
      expect(await keys(first.db)).toContain(idKey(client.id, 42))
      await first.store.destroy()
      await first.db.close()
      const { store, db } = await openWarden(dir)
      expect((await list(store.outgoingStream({ id: client.id }))).map((p) => p.messageId)).toEqual([42])
      await store.destroy()
      await db.close()
    })

    it('given to a connection that closed before sending it: a later connection sends it as a first delivery; that connection leaves it out', async () => {
      const { store, db } = await openWarden(await freshDir())
      const old = { id: client.id, conn: {} }
      store.giveIdsAtQueue(assigner({ [client.id]: old }, [51]).assign)
      await store.outgoingEnqueueCombi([{ clientId: client.id, qos: 2 } as QueueSub], v5(1, 2) as StoredPacket)
      // the connection it was given to reads its queue meanwhile: it is to be delivered live there
      expect(await list(store.outgoingStream(old))).toEqual([])
      const later = { id: client.id, conn: {} }
      const read = await list(store.outgoingStream(later))
      expect(read.map((p) => [String(p.payload), p.messageId])).toEqual([['m1', undefined]])
      // sent under the id the later connection gives it: that one is written, 51 is free again
      await store.outgoingUpdate(later, { ...read[0], messageId: 9 } as StoredPacket)
      expect(await keys(db)).toContain(idKey(client.id, 9))
      expect(await store.outgoingClearMessageId(later, { messageId: 51 })).toBeUndefined()
      expect(carried(await store.outgoingClearMessageId(later, { messageId: 9 }))).toEqual(expected(1))
      await store.destroy()
      await db.close()
    })

    it('each subscriber its own id; an id held by another message is not given (queued without one)', async () => {
      const { store, db } = await openWarden(await freshDir())
      const a = { id: 'reader/a', conn: {} }
      const b = { id: 'reader/b', conn: {} }
      await store.outgoingEnqueueCombi([{ clientId: b.id, qos: 1 } as QueueSub], v5(1, 1) as StoredPacket)
      await store.outgoingUpdate(b, { ...v5(1, 1), messageId: 62 } as StoredPacket)
      const { assign, dropped } = assigner({ [a.id]: a, [b.id]: b }, [61, 62])
      store.giveIdsAtQueue(assign)
      await store.outgoingEnqueueCombi([{ clientId: a.id, qos: 2 }, { clientId: b.id, qos: 2 }] as QueueSub[], v5(2, 2) as StoredPacket)
      expect(dropped).toEqual([62])
      expect((await list(store.outgoingStream({ id: a.id }))).map((p) => p.messageId)).toEqual([61])
      expect((await list(store.outgoingStream({ id: b.id }))).map((p) => [String(p.payload), p.messageId])).toEqual([['m1', 62], ['m2', null]])
      // at QoS 1 (granted), or a message queued at QoS 1: no id is asked for
      const asked: string[] = []
      store.giveIdsAtQueue((clientId) => { asked.push(clientId); return undefined })
      await store.outgoingEnqueueCombi([{ clientId: a.id, qos: 1 }] as QueueSub[], v5(3, 2) as StoredPacket)
      await store.outgoingEnqueueCombi([{ clientId: a.id, qos: 2 }] as QueueSub[], v5(4, 1) as StoredPacket)
      expect(asked).toEqual([])
      await store.destroy()
      await db.close()
    })

    it('after a restart, an id held in a queue entry is not given to a new message before the queue is read', async () => {
      const dir = await freshDir()
      const first = await openWarden(dir)
      const conn = { id: client.id, conn: {} }
      const sub = { clientId: client.id, qos: 2 } as QueueSub
      first.store.giveIdsAtQueue(assigner({ [client.id]: conn }, [81]).assign)
      await first.store.outgoingEnqueueCombi([sub], v5(1, 2) as StoredPacket)
      await first.store.outgoingUpdate(conn, { ...v5(1, 2), messageId: 81 } as StoredPacket)
      await first.store.destroy()
      await first.db.close()
      // the session is back, its queue not read yet: a new message for it is offered 81 again
      const { store, db } = await openWarden(dir)
      const next = { id: client.id, conn: {} }
      const { assign, dropped } = assigner({ [client.id]: next }, [81])
      store.giveIdsAtQueue(assign)
      await store.outgoingEnqueueCombi([sub], v5(2, 2) as StoredPacket)
      expect(dropped).toEqual([81])
      // m1 is sent again under its own id (MQTT-4.4.0-1); m2 gets one as it is sent
      expect((await list(store.outgoingStream(next))).map((p) => [String(p.payload), p.messageId])).toEqual([['m1', 81], ['m2', null]])
      await store.destroy()
      await db.close()
    })

    it('is read by aedes-persistence-level as the message with its id', async () => {
      const dir = await freshDir()
      const { store, db } = await openWarden(dir)
      const conn = { id: client.id, conn: {} }
      store.giveIdsAtQueue(assigner({ [client.id]: conn }, [71]).assign)
      await store.outgoingEnqueueCombi([{ clientId: client.id, qos: 2 } as QueueSub], v5(1, 2) as StoredPacket)
      await store.destroy()
      await db.close()
      const theirs = await openAedesLevel(dir)
      const read = await list(theirs.outgoingStream({ id: client.id }))
      expect(read.map((p) => p.messageId)).toEqual([71])
      expect(carried(read[0])).toEqual(expected(1))
      await theirs.destroy()
    })
  })
})
