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
import type { StoredPacket } from '../../apps/broker/src/aedes/store.js'

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
})
