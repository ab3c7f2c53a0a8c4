// What a consumer-group message costs a cluster in Redis: it crosses to another process only when the member
// that gets it is there, and the copies handed to one process travel together, not one PUBLISH each.
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { payloads, publishStream, receivedTogether, tally } from '../helpers/groups.js'
import { subscribe, type TestClient } from '../helpers/mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const node = (brokerId: string): Promise<TestBroker> => scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId } })
const client = (b: TestBroker, username: string, clientId: string): Promise<TestClient> => scope.client(username, { clientId }, b)

/** PUBLISH commands Redis has run since it started */
async function publishCalls (): Promise<number> {
  const r = new Redis(redis.url)
  try {
    const info = await r.info('commandstats')
    return Number(/^cmdstat_publish:calls=(\d+)/m.exec(info)?.[1] ?? 0)
  } finally {
    r.disconnect()
  }
}

describe('a consumer group spread over two broker processes, in Redis', () => {
  it('takes one PUBLISH per message and a few per batch of hand-overs; the other process reads none of the originals', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const members = [await client(a, 'dashboard', 'm-a'), await client(b, 'dashboard', 'm-b')]
    for (const m of members) expect(await subscribe(m, '$share/g/sensors/#', 1)).toEqual([1])
    const pub = await client(a, 'sensor-1', 'pub-a')
    const n = 1000
    const before = await publishCalls()
    await publishStream(pub, 'sensors/sensor-1/t', n, 1)
    await receivedTogether(members, n)
    const calls = await publishCalls() - before
    expect(tally(members, payloads(n))).toMatchObject({ missing: [], duplicates: 0 })
    // round robin: half of them go to the member on b
    expect(members[1]?.messages.length).toBe(n / 2)
    // b took none of a's messages from Redis: a dispatches them, and b gets only the copies handed to it
    expect(b.broker.bus?.received).toBe(0)
    expect(a.broker.bus?.sent).toBe(n)
    // the message itself (n), and the hand-overs to b batched: one PUBLISH each was n / 2 more
    expect(calls).toBeGreaterThanOrEqual(n)
    expect(calls).toBeLessThan(n * 1.25)
  })
})
