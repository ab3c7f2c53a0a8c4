// queue-bound (limits/queue-bound.ts, installed through broker/hardening.ts) on a fake store of sessions'
// queues: a full offline queue takes no more, a connected client that leaves that much unacknowledged is cut
// off. The patch reads the broker's clients: a real aedes broker (no listener) with a client on an in-memory
// stream, never a fake one.
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { Aedes } from 'aedes'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { storeOf, type QueueSub, type Session, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { boundQueues, type QueueBound, type QueueLimits, type QueueOverflow } from '../../apps/broker/src/limits/queue-bound.js'
import { connectInMemory } from '../helpers/bare-aedes.js'

/** each session's queue by client id; outgoingEnqueueCombi records whom each message was queued for */
function fakeStore (queues: Record<string, StoredPacket[]>): { store: ReturnType<typeof storeOf>, enqueued: string[][] } {
  const enqueued: string[][] = []
  const store = storeOf({
    async outgoingEnqueueCombi (subs: QueueSub[], packet: StoredPacket, _cb?: unknown) {
      enqueued.push(subs.map((s) => s.clientId))
      for (const s of subs) (queues[s.clientId] ??= []).push({ ...packet })
    },
    // a packet sent under an id takes its queue entry's place (a PUBREL the QoS 2 message's, as the stores do)
    async outgoingUpdate (client: Session, packet: StoredPacket, _cb?: unknown) {
      const q = queues[client.id] ?? []
      const i = q.findIndex((p) => p.messageId === packet.messageId)
      if (i >= 0) q[i] = { ...packet }
    },
    async outgoingClearMessageId (client: Session, packet: { messageId?: number }, _cb?: unknown) {
      const q = queues[client.id] ?? []
      const i = q.findIndex((p) => p.messageId === packet.messageId)
      return i < 0 ? undefined : q.splice(i, 1)[0]
    },
    outgoingStream (client: Session) { return Readable.from([...(queues[client.id] ?? [])]) }
  })
  return { store, enqueued }
}

/** 1-byte topic + 5-byte payload: 6 bytes stored */
const message = (messageId?: number): StoredPacket => ({
  cmd: 'publish', topic: 't', payload: Buffer.from('hello'), qos: 1, ...(messageId !== undefined ? { messageId } : {})
})
const subs = (...ids: string[]): QueueSub[] => ids.map((clientId) => ({ clientId, topic: 't', qos: 1 }))

let broker: Aedes
beforeEach(async () => { broker = await Aedes.createBroker() })
afterEach(async () => { await new Promise<void>((resolve) => broker.close(() => resolve())) })

function bound (store: ReturnType<typeof storeOf>, limits: QueueLimits): { q: QueueBound, overflows: QueueOverflow[] } {
  const overflows: QueueOverflow[] = []
  const q = boundQueues(broker, store, limits, (o) => overflows.push(o))
  return { q, overflows }
}

describe('boundQueues', () => {
  it('queues no more for an offline session whose queue is full, and still queues for the others', async () => {
    const { store, enqueued } = fakeStore({ off: [message(1), message(2)] })
    const { overflows } = bound(store, { maxMessages: 2, maxBytes: 0 })
    await store.outgoingEnqueueCombi(subs('off', 'other'), message())
    expect(enqueued).toEqual([['other']])
    expect(overflows).toEqual([{ clientId: 'off', queued: 2, queuedBytes: 12, by: 'messages', online: false }])
  })

  it('counts what it queues and what is acknowledged: a full queue takes more once a message leaves it', async () => {
    const { store, enqueued } = fakeStore({ off: [message(1)] })
    const { q, overflows } = bound(store, { maxMessages: 2, maxBytes: 0 })
    await store.outgoingEnqueueCombi(subs('off'), message())
    await store.outgoingEnqueueCombi(subs('off'), message())
    expect(q.counts.get('off')).toEqual({ n: 2, bytes: 12 })
    expect(overflows).toHaveLength(1)
    await store.outgoingClearMessageId({ id: 'off' }, { messageId: 1 })
    expect(q.counts.get('off')).toEqual({ n: 1, bytes: 6 })
    await store.outgoingEnqueueCombi(subs('off'), message())
    expect(enqueued).toEqual([['off'], [], ['off']])
  })

  it('takes a connected client\'s completed QoS 2 message off its bytes, though its PUBREL is what leaves the queue', async () => {
    const { store } = fakeStore({ online: [message(1)] })
    const { q } = bound(store, { maxMessages: 0, maxBytes: 100 })
    const { client } = await connectInMemory(broker, 'online')
    await store.outgoingEnqueueCombi(subs('online'), message())
    expect(q.counts.get('online')).toEqual({ n: 2, bytes: 12 })
    await store.outgoingUpdate(client, { ...message(1), qos: 2 })
    await store.outgoingUpdate(client, { cmd: 'pubrel', messageId: 1 } as StoredPacket)
    expect(await store.outgoingClearMessageId(client, { messageId: 1 })).toMatchObject({ cmd: 'pubrel' })
    expect(q.counts.get('online')).toEqual({ n: 1, bytes: 6 })
  })

  it('bounds the bytes queued (topic and payload)', async () => {
    const { store, enqueued } = fakeStore({ off: [message(1)] })
    const { overflows } = bound(store, { maxMessages: 0, maxBytes: 11 })
    await store.outgoingEnqueueCombi(subs('off'), message())
    expect(enqueued).toEqual([[]])
    expect(overflows).toEqual([{ clientId: 'off', queued: 1, queuedBytes: 6, by: 'bytes', online: false }])
  })

  it('disconnects a connected client that leaves that much unacknowledged, the message kept in its queue', async () => {
    const { store, enqueued } = fakeStore({ online: [message(1)] })
    const { q, overflows } = bound(store, { maxMessages: 1, maxBytes: 0 })
    const { conn } = await connectInMemory(broker, 'online')
    const gone = once(broker, 'clientDisconnect')
    await store.outgoingEnqueueCombi(subs('online'), message())
    expect(enqueued).toEqual([['online']])
    expect(overflows).toEqual([{ clientId: 'online', queued: 1, queuedBytes: 6, by: 'messages', online: true }])
    expect(conn.destroyed).toBe(true)
    await gone
    // its usage is read from the store again when it is next touched
    expect(q.counts.has('online')).toBe(false)
  })
})
