// subscribe-once (store/subscribe-once.ts) on a fake store: aedes's calls of addSubscriptions for one SUBSCRIBE
// (once per filter, each with the whole array) reach the store once and share its answer.
import type { Subscription } from 'aedes'
import { describe, expect, it } from 'vitest'
import { storeOf } from '../../apps/broker/src/aedes/store.js'
import { storeSubscribeOnce } from '../../apps/broker/src/store/subscribe-once.js'
import { held, settle, settleOrder } from '../helpers/fake-store.js'

function fakeStore (): { store: ReturnType<typeof storeOf>, add: ReturnType<typeof held> } {
  const add = held()
  const store = storeOf({
    addSubscriptions (client: unknown, subs: unknown, _cb?: unknown) { return add.call(client, subs) }
  })
  return { store, add }
}

const client = { id: 'c1' }
const subscribe = (): Subscription[] => [{ topic: 'a/#', qos: 1 }, { topic: 'b/#', qos: 0 }] as Subscription[]

describe('storeSubscribeOnce', () => {
  it('sends the calls of one SUBSCRIBE to the store once, and answers each when the store answers', async () => {
    const { store, add } = fakeStore()
    storeSubscribeOnce(store)
    const subs = subscribe()
    const order = settleOrder({ first: store.addSubscriptions(client, subs), second: store.addSubscriptions(client, subs) })
    expect(add.calls).toHaveLength(1)
    expect(add.calls[0]!.args).toEqual([client, subs])
    await settle()
    expect(order).toEqual([])
    add.calls[0]!.resolve()
    await settle()
    expect(order.sort()).toEqual(['first', 'second'])
  })

  it('stores another SUBSCRIBE on its own, and the same one again once the first call is answered', async () => {
    const { store, add } = fakeStore()
    storeSubscribeOnce(store)
    const subs = subscribe()
    const other = subscribe()
    const order = settleOrder({
      a: store.addSubscriptions(client, subs), b: store.addSubscriptions(client, subs), other: store.addSubscriptions(client, other)
    })
    expect(add.calls.map((c) => c.args[1])).toEqual([subs, other])
    expect(add.calls[1]!.args[1]).toBe(other)
    add.calls[0]!.reject(new Error('store down'))
    add.calls[1]!.resolve()
    await settle()
    expect(order.sort()).toEqual(['a rejected', 'b rejected', 'other'])
    // nothing is kept once answered: a retry reaches the store
    void store.addSubscriptions(client, subs)
    expect(add.calls).toHaveLength(3)
  })
})
