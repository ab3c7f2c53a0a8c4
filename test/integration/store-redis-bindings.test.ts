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

/** a wait for a takeover's answer far past the test's own timeout: a takeover that waits fails the test */
const FOREVER_MS = 10 * 60_000

/**
 * a connection that will only subscribe: no ready check (an INFO sent after connecting; a SUBSCRIBE queued
 * meanwhile made it fail, "Connection in subscriber mode", seen under a full run's load), as the store's own
 */
const subscriber = (): Redis => new Redis(redis.url, { enableReadyCheck: false })

async function open (brokerId: string, settled?: () => Promise<void>, takeoverWaitMs?: number): Promise<BindingStore> {
  return await createRedisBindings({ url: redis.url }, brokerId, settled, { takeoverWaitMs })
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
    const watch = subscriber()
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

  it('a takeover of a process that was killed (its alive key not yet lapsed) waits for no answer', async () => {
    const a = await open('worker-a', undefined, FOREVER_MS)
    const raw = new Redis(redis.url)
    try {
      // what a SIGKILLed process leaves: its alive key, for up to 15 s, and no connection listening
      await raw.set('warden:broker-alive:worker-killed', '2', 'PX', 60_000)
      expect(await a.brokerAlive('worker-killed')).toBe(true)
      await a.takeOver('orphan', 'worker-killed')
    } finally {
      await raw.del('warden:broker-alive:worker-killed')
      raw.disconnect()
      await a.close()
    }
  })

  it('a process of an earlier version (alive key \'1\') is asked on the shared channel and waited for', async () => {
    const a = await open('worker-a', undefined, FOREVER_MS)
    const raw = new Redis(redis.url)
    const earlier = subscriber()
    try {
      await raw.set('warden:broker-alive:worker-old', '1', 'PX', 60_000)
      await earlier.subscribe('warden:client-ids\u0000takeover')
      const asked = once(earlier, 'message')
      let answered = false
      const takenOver = a.takeOver('older', 'worker-old').then(() => { answered = true })
      const [, text] = await asked as [string, string]
      const m = JSON.parse(text) as { id: string, to: string, from: string, n: number }
      expect(m).toMatchObject({ id: 'older', to: 'worker-old', from: 'worker-a' })
      await a.get('older')
      expect(answered).toBe(false)
      // the earlier version's answer, as it sends it
      await raw.publish('warden:client-ids\u0000taken', JSON.stringify({ n: m.n, to: m.from }))
      await takenOver
      expect(answered).toBe(true)
    } finally {
      await raw.del('warden:broker-alive:worker-old')
      earlier.disconnect()
      raw.disconnect()
      await a.close()
    }
  })

  it('a running process is asked on its own channel, and an earlier version\'s sender on the shared one is answered too', async () => {
    const a = await open('worker-a', undefined, FOREVER_MS)
    const b = await open('worker-b')
    const older = new Redis(redis.url)
    const answers = subscriber()
    try {
      const asked: string[] = []
      b.onTakeOver(async (clientId) => { asked.push(clientId) })
      await a.takeOver('new-way', 'worker-b')
      // a sender of an earlier version publishes on the shared channel only
      await answers.subscribe('warden:client-ids\u0000taken')
      const answer = once(answers, 'message')
      await older.publish('warden:client-ids\u0000takeover', JSON.stringify({ id: 'old-way', to: 'worker-b', from: 'worker-old', n: 7 }))
      const [, text] = await answer as [string, string]
      expect(JSON.parse(text)).toEqual({ n: 7, to: 'worker-old' })
      expect(asked).toEqual(['new-way', 'old-way'])
    } finally {
      answers.disconnect()
      older.disconnect()
      await Promise.all([a.close(), b.close()])
    }
  })
})
