// A dead broker's will is handed to one of aedes's will sweeps at a time: a sweep that overlaps a slow one does
// not publish it again (delivery/will-sweep.ts).
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { HOLD_MS, oneSweepPerWill } from '../../apps/broker/src/delivery/will-sweep.js'
import type { AedesStore } from '../../apps/broker/src/aedes/store.js'

/** a store holding wills until deleted, with the callback-layer arities aedes's stores have */
function storeWith (wills: Array<{ clientId: string, brokerId: string, topic: string }>, held = [...wills]): AedesStore {
  const store = {
    streamWill (_brokers: unknown) { return Readable.from(held.map((w) => ({ ...w, payload: Buffer.from('x'), qos: 1 }))) },
    async delWill (client: { id: string, brokerId?: string }, _cb?: unknown) {
      const i = held.findIndex((w) => w.clientId === client.id && w.brokerId === client.brokerId)
      if (i >= 0) held.splice(i, 1)
    }
  }
  return store as unknown as AedesStore
}

const sweep = async (store: AedesStore): Promise<string[]> => {
  const out: string[] = []
  for await (const w of store.streamWill({})) out.push(String(w.clientId))
  return out
}

describe('one sweep per will', () => {
  it('a sweep overlapping one still publishing a will does not get that will; after its deletion nothing is left', async () => {
    const store = storeWith([{ clientId: 'a', brokerId: 'dead', topic: 'x/a' }, { clientId: 'b', brokerId: 'dead', topic: 'x/b' }])
    oneSweepPerWill(store)
    expect(await sweep(store)).toEqual(['a', 'b'])
    // the next interval fires while the first sweep still publishes both: it gets neither
    expect(await sweep(store)).toEqual([])
    await store.delWill({ id: 'a', brokerId: 'dead' })
    await store.delWill({ id: 'b', brokerId: 'dead' })
    expect(await sweep(store)).toEqual([])
  })

  it('a will whose publication failed (never deleted) is tried again once the hold has passed', async () => {
    let t = 1_000_000
    const store = storeWith([{ clientId: 'a', brokerId: 'dead', topic: 'x/a' }])
    oneSweepPerWill(store, undefined, () => t)
    expect(await sweep(store)).toEqual(['a'])
    t += HOLD_MS - 1
    expect(await sweep(store)).toEqual([])
    t += 1
    expect(await sweep(store)).toEqual(['a'])
  })

  it('the same client id under another (dead) broker is a will of its own', async () => {
    const wills = [{ clientId: 'a', brokerId: 'dead-1', topic: 'x/a' }]
    const store = storeWith([], wills)
    oneSweepPerWill(store)
    expect(await sweep(store)).toEqual(['a'])
    wills.push({ clientId: 'a', brokerId: 'dead-2', topic: 'x/a' })
    const second: string[] = []
    for await (const w of store.streamWill({})) second.push(`${String(w.clientId)}@${String(w.brokerId)}`)
    expect(second).toEqual(['a@dead-2'])
  })
})
