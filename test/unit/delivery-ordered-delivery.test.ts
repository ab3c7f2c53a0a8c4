// order-per-client (delivery/ordered-delivery.ts) on a fake store that completes calls when the test says:
// one client's calls resolve in the order they were made, while the store still works on them at once.
import { describe, expect, it } from 'vitest'
import { orderPerClient } from '../../apps/broker/src/delivery/ordered-delivery.js'
import { storeOf, type AedesStore } from '../../apps/broker/src/aedes/store.js'
import { held, settle, settleOrder, type Held } from '../helpers/fake-store.js'

const METHODS = ['outgoingUpdate', 'incomingGetPacket', 'incomingStorePacket'] as const
type Method = typeof METHODS[number]

function fakeStore (): { store: AedesStore, calls: Record<Method, Held> } {
  const calls = { outgoingUpdate: held(), incomingGetPacket: held(), incomingStorePacket: held() }
  const store = storeOf({
    outgoingUpdate (client: unknown, packet: unknown, _cb?: unknown) { return calls.outgoingUpdate.call(client, packet) },
    incomingGetPacket (client: unknown, packet: unknown, _cb?: unknown) { return calls.incomingGetPacket.call(client, packet) },
    incomingStorePacket (client: unknown, packet: unknown, _cb?: unknown) { return calls.incomingStorePacket.call(client, packet) }
  })
  orderPerClient(store)
  return { store, calls }
}

const packet = (messageId: number): never => ({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 2, messageId }) as never
const call = (store: AedesStore, method: Method, id: string, messageId: number): Promise<unknown> =>
  (store[method] as (c: { id: string }, p: never) => Promise<unknown>)({ id }, packet(messageId))

describe.each(METHODS)('orderPerClient: %s', (method) => {
  it('resolves one client\'s calls in call order when the store completes them out of order, both running at once', async () => {
    const { store, calls } = fakeStore()
    const order = settleOrder({ first: call(store, method, 'c1', 1), second: call(store, method, 'c1', 2) })
    // both reached the store before either completed: the store's concurrency is kept
    expect(calls[method].calls.map((c) => (c.args[1] as { messageId: number }).messageId)).toEqual([1, 2])
    calls[method].calls[1]!.resolve('second')
    await settle()
    expect(order).toEqual([])
    calls[method].calls[0]!.resolve('first')
    await settle()
    expect(order).toEqual(['first', 'second'])
  })

  it('holds a client\'s call behind its own earlier call only, not behind another client\'s', async () => {
    const { store, calls } = fakeStore()
    const order = settleOrder({ a1: call(store, method, 'a', 1), a2: call(store, method, 'a', 2), b1: call(store, method, 'b', 1) })
    calls[method].calls[1]!.resolve()
    calls[method].calls[2]!.resolve()
    await settle()
    expect(order).toEqual(['b1'])
    calls[method].calls[0]!.resolve()
    await settle()
    expect(order).toEqual(['b1', 'a1', 'a2'])
  })

  it('keeps the order of three calls completed last-first-middle, and starts a new line once one has drained', async () => {
    const { store, calls } = fakeStore()
    const order = settleOrder({ one: call(store, method, 'c1', 1), two: call(store, method, 'c1', 2), three: call(store, method, 'c1', 3) })
    calls[method].calls[2]!.resolve()
    calls[method].calls[0]!.resolve()
    await settle()
    expect(order).toEqual(['one'])
    calls[method].calls[1]!.resolve()
    await settle()
    expect(order).toEqual(['one', 'two', 'three'])
    // the line is empty: a call now waits for nothing, and a call after it waits for it
    const later = settleOrder({ four: call(store, method, 'c1', 4), five: call(store, method, 'c1', 5) })
    calls[method].calls[4]!.resolve()
    await settle()
    expect(later).toEqual([])
    calls[method].calls[3]!.resolve()
    await settle()
    expect(later).toEqual(['four', 'five'])
  })

  it('passes a rejection on in its turn, with the store\'s own error and value', async () => {
    const { store, calls } = fakeStore()
    const first = call(store, method, 'c1', 1)
    const second = call(store, method, 'c1', 2)
    const order = settleOrder({ first, second })
    calls[method].calls[1]!.resolve('stored')
    await settle()
    calls[method].calls[0]!.reject(new Error('no such packet'))
    await settle()
    expect(order).toEqual(['first rejected', 'second'])
    await expect(first).rejects.toThrow('no such packet')
    await expect(second).resolves.toBe('stored')
  })
})
