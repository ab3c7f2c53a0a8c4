// store-pubrels-apart (store/memory-pubrel.ts) on a fake store that matches outgoingUpdate entries as
// aedes-persistence 11 does (asyncPersistence.js): by (brokerId, brokerCounter) first, else by packet id.
// A second PUBREL must replace its own PUBLISH, not the first PUBREL.
import { describe, expect, it } from 'vitest'
import { storeOf, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { storePubrelsApart } from '../../apps/broker/src/store/memory-pubrel.js'

type Entry = Partial<StoredPacket> & { cmd: string, messageId: number }

/** one client's queue and aedes-persistence 11's outgoingUpdate matching rule */
function fakeStore (queue: Entry[]): { store: ReturnType<typeof storeOf>, updates: Entry[] } {
  const updates: Entry[] = []
  const store = storeOf({
    async outgoingUpdate (_client: unknown, packet: Entry, _cb?: unknown) {
      updates.push(packet)
      for (let i = 0; i < queue.length; i++) {
        const e = queue[i]!
        if (e.brokerId === packet.brokerId) {
          if (e.brokerCounter === packet.brokerCounter) { e.messageId = packet.messageId; return }
        } else if (e.messageId === packet.messageId) {
          queue[i] = packet
          return
        }
      }
      throw new Error('no such packet')
    }
  })
  return { store, updates }
}

const publish = (brokerCounter: number, messageId: number): Entry =>
  ({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, brokerId: 'b1', brokerCounter, messageId })
const pubrel = (messageId: number): Entry => ({ cmd: 'pubrel', messageId })
const client = { id: 'sub-1', clean: false }

describe('storePubrelsApart', () => {
  it('stores each PUBREL as its own entry: PUBRECs back to back replace each PUBLISH by its packet id', async () => {
    const queue = [publish(1, 1), publish(2, 2), publish(3, 3)]
    const { store } = fakeStore(queue)
    storePubrelsApart(store)
    const rels = [pubrel(1), pubrel(2), pubrel(3)]
    for (const r of rels) await store.outgoingUpdate(client, r as StoredPacket)
    expect(queue.map((e) => [e.cmd, e.messageId])).toEqual([['pubrel', 1], ['pubrel', 2], ['pubrel', 3]])
    // entries of their own, none matching another
    expect(new Set(queue.map((e) => `${e.brokerId}/${e.brokerCounter}`)).size).toBe(3)
    // the packet aedes is about to write is left as it was
    expect(rels).toEqual([pubrel(1), pubrel(2), pubrel(3)])
  })

  it('passes a PUBLISH, and a PUBREL that has its own identity (read back from the store), as they are', async () => {
    const queue = [publish(1, 1)]
    const { store, updates } = fakeStore(queue)
    storePubrelsApart(store)
    await store.outgoingUpdate(client, pubrel(1) as StoredPacket)
    const stored = queue[0]!
    expect(stored).toMatchObject({ cmd: 'pubrel', messageId: 1 })
    expect(stored.brokerId).not.toBe(undefined)
    const again = { ...stored, messageId: 9 }
    const pub = publish(5, 5)
    await expect(store.outgoingUpdate(client, again as StoredPacket)).resolves.toBe(undefined)
    await expect(store.outgoingUpdate(client, pub as StoredPacket)).rejects.toThrow('no such packet')
    expect(updates.slice(1)).toEqual([again, pub])
    expect(updates[1]).toBe(again)
    expect(updates[2]).toBe(pub)
  })
})
