// stackless-misses (store/memory-misses.ts): the memory store's lookups that miss still reject as before, with
// an error that carries no stack trace (each QoS 2 message makes two such misses), and the process's stack
// trace limit is left as it was.
import { describe, expect, it } from 'vitest'
import aedesPersistence from 'aedes-persistence'
import { storeOf } from '../../apps/broker/src/aedes/store.js'
import { stacklessMisses } from '../../apps/broker/src/store/memory-misses.js'

const frames = (err: unknown): number => String((err as Error).stack ?? '').split('\n').filter((l) => l.trim().startsWith('at ')).length

describe('the memory store\'s misses', () => {
  it('reject with "no such packet" and no stack trace; hits are unchanged', async () => {
    const store = storeOf(aedesPersistence())
    stacklessMisses(store)
    const before = Error.stackTraceLimit
    const get = await store.incomingGetPacket({ id: 'c' }, { messageId: 1 }).catch((err: unknown) => err)
    const del = await store.incomingDelPacket({ id: 'c' }, { messageId: 1 }).catch((err: unknown) => err)
    for (const err of [get, del]) {
      expect(err).toBeInstanceOf(Error)
      expect((err as Error).message).toBe('no such packet')
      expect(frames(err)).toBe(0)
    }
    expect(Error.stackTraceLimit).toBe(before)
    expect(frames(new Error('elsewhere'))).toBeGreaterThan(0)
    const packet = { cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2 as const, messageId: 1, brokerId: 'b', brokerCounter: 1 }
    await store.incomingStorePacket({ id: 'c' }, packet)
    expect((await store.incomingGetPacket({ id: 'c' }, { messageId: 1 })).payload.toString()).toBe('x')
    await store.incomingDelPacket({ id: 'c' }, { messageId: 1 })
    await expect(store.incomingGetPacket({ id: 'c' }, { messageId: 1 })).rejects.toThrow('no such packet')
  })
})
