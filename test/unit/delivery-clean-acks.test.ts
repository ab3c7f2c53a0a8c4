// clean-session-acks (delivery/clean-acks.ts) on a fake store: a clean session's PUBACK/PUBCOMP does not ask
// the store to clear a packet id it never recorded; ids recorded on the connection, and persistent sessions,
// still reach it.
import { describe, expect, it } from 'vitest'
import { storeOf, type Session, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { skipCleanSessionAcks } from '../../apps/broker/src/delivery/clean-acks.js'

function fakeStore (): { store: ReturnType<typeof storeOf>, cleared: Array<[string, number | undefined]>, updated: Array<[string, number | undefined]> } {
  const cleared: Array<[string, number | undefined]> = []
  const updated: Array<[string, number | undefined]> = []
  const store = storeOf({
    async outgoingUpdate (client: Session, packet: StoredPacket, _cb?: unknown) { updated.push([client.id, packet.messageId]) },
    async outgoingClearMessageId (client: Session, packet: { messageId?: number }, _cb?: unknown) {
      cleared.push([client.id, packet.messageId])
      return { cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, messageId: packet.messageId }
    }
  })
  return { store, cleared, updated }
}

const packet = (messageId: number): StoredPacket => ({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, messageId })

describe('skipCleanSessionAcks', () => {
  it('answers a clean session\'s acknowledgement without the store', async () => {
    const { store, cleared } = fakeStore()
    skipCleanSessionAcks(store)
    await expect(store.outgoingClearMessageId({ id: 'clean-1', clean: true }, { messageId: 7 })).resolves.toBe(undefined)
    expect(cleared).toEqual([])
  })

  it('passes on a clean session\'s id recorded on this connection (a queue left from an earlier session), once', async () => {
    const { store, cleared, updated } = fakeStore()
    skipCleanSessionAcks(store)
    const conn = { id: 'c1', clean: true }
    await store.outgoingUpdate(conn, packet(3))
    expect(updated).toEqual([['c1', 3]])
    await expect(store.outgoingClearMessageId(conn, { messageId: 3 })).resolves.toMatchObject({ messageId: 3 })
    await store.outgoingClearMessageId(conn, { messageId: 3 })
    // another connection of the same id recorded nothing
    await store.outgoingClearMessageId({ id: 'c1', clean: true }, { messageId: 4 })
    expect(cleared).toEqual([['c1', 3]])
  })

  it('passes on every acknowledgement of a persistent session, and of the store\'s pseudo sessions', async () => {
    const { store, cleared } = fakeStore()
    skipCleanSessionAcks(store)
    await store.outgoingClearMessageId({ id: 'clean-1', clean: true }, { messageId: 1 })
    await expect(store.outgoingClearMessageId({ id: 'p1', clean: false }, { messageId: 2 })).resolves.toMatchObject({ messageId: 2 })
    await store.outgoingClearMessageId({ id: 'p2' }, { messageId: 3 })
    expect(cleared).toEqual([['p1', 2], ['p2', 3]])
  })
})
