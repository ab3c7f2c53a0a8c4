// mark-stored-wills (delivery/will-owner.ts) on a fake store holding wills as a durable store does (a copy,
// as after msgpack): every will it streams back is marked stored and judged by the owner recorded in it.
import { Readable } from 'node:stream'
import type { PublishPacket } from 'aedes'
import { describe, expect, it } from 'vitest'
import type { Account } from '../../apps/broker/src/auth/user-directory.js'
import { hashPassword, parsePasswordHash } from '../../apps/broker/src/auth/password.js'
import { storeOf } from '../../apps/broker/src/aedes/store.js'
import { decideLaterWill, isStoredWill, markStoredWills, recordWillOwner } from '../../apps/broker/src/delivery/will-owner.js'
import { OwnershipPolicy } from '../../apps/broker/src/policy/ownership.js'

const hash = parsePasswordHash(await hashPassword('x', { N: 1024, r: 8, p: 1 }))
const account = (username: string, id: string): Account => ({ id, username, roles: [], loopbackOnly: false, hash, plain: false })
const alice = account('alice', 'acc-1')
const ownership = new OwnershipPolicy([{ filter: 'status/alice', owners: ['alice'] }])

const will = (clientId: string, topic: string): PublishPacket & { clientId: string } =>
  ({ cmd: 'publish', topic, payload: Buffer.from('offline'), qos: 1, retain: false, dup: false, clientId })

/** a store holding copies of `wills` (a durable store msgpacks the whole packet): streamWill yields them */
function fakeStore (wills: PublishPacket[]): { store: ReturnType<typeof storeOf>, asked: unknown[] } {
  const asked: unknown[] = []
  const store = storeOf({
    streamWill (brokers: unknown) {
      asked.push(brokers)
      return Readable.from(wills.map((w) => ({ ...w, payload: Buffer.from(w.payload) })))
    }
  })
  return { store, asked }
}

async function streamed (store: ReturnType<typeof storeOf>, brokers: unknown): Promise<PublishPacket[]> {
  const out: PublishPacket[] = []
  for await (const w of store.streamWill(brokers)) out.push(w as unknown as PublishPacket)
  return out
}

describe('markStoredWills', () => {
  it('marks every will the store streams back as stored, each judged by the owner recorded in it', async () => {
    const own = will('c-alice', 'status/alice')
    recordWillOwner(own, alice)
    const anonymous = will('c-anon', 'status/alice')
    recordWillOwner(anonymous, undefined)
    const { store, asked } = fakeStore([own, anonymous])
    markStoredWills(store)

    const brokers = { 'dead-broker': Date.now() }
    const [a, b] = await streamed(store, brokers)
    expect(asked).toEqual([brokers])
    expect(isStoredWill(a!)).toBe(true)
    expect(isStoredWill(b!)).toBe(true)
    const accounts = new Map([['alice', alice]])
    expect(decideLaterWill(a!, accounts, ownership)).toMatchObject({ username: 'alice', decision: { allowed: true } })
    expect(decideLaterWill(b!, accounts, ownership)).toMatchObject({ username: undefined, decision: { allowed: false, detail: 'will has no recorded owner' } })
    // a name is not an identity: alice deleted and re-created (or imported with another id) is another account,
    // and the refusal says so rather than "deleted"
    const replaced = 'the account that set the will was replaced by another of its name (deleted and created again, or a registry import)'
    expect(decideLaterWill(a!, new Map([['alice', account('alice', 'acc-2')]]), ownership)).toMatchObject({ decision: { allowed: false, detail: replaced } })
    expect(decideLaterWill(a!, new Map(), ownership))
      .toMatchObject({ decision: { allowed: false, detail: 'the account that set the will was deleted' } })
    // the will a connected client set is not marked: it is judged with its connection
    expect(isStoredWill(own)).toBe(false)
  })
})
