// retained-quota's store patch (limits/retained-quota.ts `patchStore`) on a fake retained store: a retained
// message past the quota is not stored, and what is stored carries its publisher's account so that a restart
// counts it again. The hook part uses a real aedes client (no listener), never a fake one.
import { PassThrough, Readable } from 'node:stream'
import { Aedes, type Client, type PublishPacket } from 'aedes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RetainedLimits } from '../../apps/broker/src/config/hardening-schema.js'
import { storeOf, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { composeHooks } from '../../apps/broker/src/hooks/pipeline.js'
import { createRetainedQuota, OWNER_FIELD, type RetainedQuota } from '../../apps/broker/src/limits/retained-quota.js'

/** the retained store: a map by topic (an empty payload clears), streamed back by createRetainedStreamCombi */
function fakeStore (): { store: ReturnType<typeof storeOf>, retained: Map<string, StoredPacket>, writes: StoredPacket[] } {
  const retained = new Map<string, StoredPacket>()
  const writes: StoredPacket[] = []
  const store = storeOf({
    async storeRetained (packet: StoredPacket, _cb?: unknown) {
      writes.push(packet)
      if (packet.payload.length === 0) retained.delete(packet.topic); else retained.set(packet.topic, packet)
    },
    createRetainedStreamCombi (_patterns: string[]) { return Readable.from([...retained.values()]) }
  })
  return { store, retained, writes }
}

const limits = (l: Partial<RetainedLimits>): RetainedLimits => ({ maxMessagesPerUser: 0, maxBytesPerUser: 0, maxMessages: 0, maxBytes: 0, ...l })
const packet = (topic: string, payload = 'v'): StoredPacket & PublishPacket =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false }) as StoredPacket & PublishPacket

interface Refusal { client: Client | undefined, topic: string, detail: string }
function quota (store: ReturnType<typeof storeOf>, l: Partial<RetainedLimits>): { q: RetainedQuota, refusals: Refusal[] } {
  const refusals: Refusal[] = []
  const q = createRetainedQuota(store, limits(l), {
    usernameOf: () => 'alice',
    refused: (client, p, detail) => refusals.push({ client, topic: p.topic, detail })
  })
  return { q, refusals }
}

let broker: Aedes
let client: Client
beforeAll(async () => {
  broker = await Aedes.createBroker()
  client = broker.handle(new PassThrough())
})
afterAll(async () => {
  client.conn.destroy()
  await new Promise<void>((resolve) => broker.close(() => resolve()))
})

describe('retained quota: the store patch', () => {
  it('does not store a retained message past the quota (a will of a dead broker, a recovered message), and audits it', async () => {
    const { store, retained, writes } = fakeStore()
    const { q, refusals } = quota(store, { maxMessages: 1 })
    q.patchStore()
    await store.storeRetained(packet('a'))
    await store.storeRetained(packet('b'))
    expect([...retained.keys()]).toEqual(['a'])
    expect(writes.map((w) => w.topic)).toEqual(['a'])
    expect(refusals).toEqual([{ client: undefined, topic: 'b', detail: expect.stringContaining('limits.retained.maxMessages 1') }])
    // clearing is always stored, and frees the quota
    await store.storeRetained(packet('a', ''))
    await store.storeRetained(packet('b'))
    expect([...retained.keys()]).toEqual(['b'])
    expect(q.usage.total).toEqual({ count: 1, bytes: 2 })
  })

  it('stores a client\'s retained message with its account, which a restarted broker counts against that account', async () => {
    const { store, retained } = fakeStore()
    const { q } = quota(store, { maxMessagesPerUser: 1 })
    q.patchStore()
    const hooks = composeHooks([q.stage])
    const p = packet('status/alice')
    await new Promise<void>((resolve, reject) => hooks.authorizePublish(client, p, (err) => { if (err != null) reject(err); else resolve() }))
    expect(p.retain).toBe(true)
    await store.storeRetained(p)
    expect(retained.get('status/alice')?.[OWNER_FIELD]).toBe('alice')

    // a restart reads the usage back from the store: alice's quota is taken
    const { q: after } = quota(store, { maxMessagesPerUser: 1 })
    await after.load()
    expect(after.usage.of('alice')).toEqual({ count: 1, bytes: 13 })
    expect(after.usage.check('status/alice-2', 'alice', 1)).toMatch(/maxMessagesPerUser 1/)
  })
})
