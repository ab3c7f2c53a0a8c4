// Client-id bindings on Redis (store/redis-bindings.ts) are ordered after the session store's writes: a
// persistent session's binding goes offline, and a takeover is answered, only once what its worker wrote
// before (acknowledgements, which the broker does not wait for) is in Redis. The next connection of the id,
// on another worker, reads the session after them — else it was sent again what the old one acknowledged.
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Binding } from '../../apps/broker/src/policy/client-id-binding.js'
import type { BindingStore } from '../../apps/broker/src/store/binding-store.js'
import { createRedisBindings } from '../../apps/broker/src/store/redis-bindings.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis?.stop() })

/** the store writes a test holds back: `settled` resolves when the test says */
function heldWrites (): { settled: () => Promise<void>, release: () => void } {
  let release!: () => void
  const done = new Promise<void>((resolve) => { release = resolve })
  return { settled: async () => { await done }, release }
}

const binding = (brokerId: string, conn: string, connected: boolean): Binding =>
  ({ account: 'dashboard', clean: false, connected, brokerId, conn, since: 0 })

async function open (brokerId: string, settled?: () => Promise<void>): Promise<BindingStore> {
  return await createRedisBindings({ url: redis.url }, brokerId, settled)
}

describe('client-id bindings on Redis, after the session store\'s writes', () => {
  it('a claim goes ahead; the release of a connection waits for the writes made before it', async () => {
    const writes = heldWrites()
    const b = await open('worker-b', writes.settled)
    try {
      const mine = binding('worker-b', 'c1', true)
      expect(await b.swap('releasing', undefined, mine)).toBe(true)

      const released = b.swap('releasing', mine, { ...mine, connected: false })
      // one connection answers in order: had the release been sent, this read would see it
      expect((await b.get('releasing'))?.connected).toBe(true)
      writes.release()
      expect(await released).toBe(true)
      expect((await b.get('releasing'))?.connected).toBe(false)
    } finally {
      await b.close()
    }
  })

  it('a takeover is answered once the old connection\'s worker has its writes in', async () => {
    const writes = heldWrites()
    const a = await open('worker-a')
    const b = await open('worker-b', writes.settled)
    const watch = new Redis(redis.url)
    try {
      await watch.subscribe('warden:client-ids\u0000taken')
      let listened!: () => void
      const asked = new Promise<void>((resolve) => { listened = resolve })
      b.onTakeOver(async () => { listened() })
      let answered = false
      const takenOver = a.takeOver('moving', 'worker-b').then(() => { answered = true })
      await asked
      // round trips on both connections: an answer published when the listener ended would be in by now
      await b.get('moving')
      await a.get('moving')
      expect(answered).toBe(false)
      const answer = once(watch, 'message')
      writes.release()
      const [, text] = await answer as [string, string]
      expect(JSON.parse(text)).toMatchObject({ to: 'worker-a' })
      await takenOver
      expect(answered).toBe(true)
    } finally {
      watch.disconnect()
      await Promise.all([a.close(), b.close()])
    }
  })
})
