// Two workers on one private Redis, each through its own relay where a test needs one (helpers/redis-relay.ts),
// for the tests of what a worker's bus misses while it is away from Redis (delivery/bus-gap.ts).
import { afterEach } from 'vitest'
import type { TestBroker } from './broker.js'
import type { TestClient } from './mqtt.js'
import type { TestRedis } from './redis.js'
import { startRedisRelay, type RedisRelay } from './redis-relay.js'
import type { Scope } from './scope.js'

/**
 * Relays in front of `redis`, closed after each test once its brokers are (a broker whose Redis is cut takes
 * seconds to close). Call it before useScope(): hooks registered first run last.
 */
export function useRelays (redis: TestRedis): (scope: Scope) => Promise<RedisRelay> {
  const relays: RedisRelay[] = []
  afterEach(() => { for (const r of relays.splice(0)) r.close() })
  return async (scope) => {
    const r = await startRedisRelay(redis.port)
    relays.push(r)
    // what a failed test left held goes on before the brokers close (they would wait for it)
    scope.defer(() => { r.release(); r.restore() })
    return r
  }
}

/** a worker of the cluster, on Redis at `url` (Redis's own, or a relay's) */
export const node = (scope: Scope, brokerId: string, url: string): Promise<TestBroker> =>
  scope.startAnother({ config: { persistence: 'redis', redis: { url }, brokerId, log: { level: 'silent' } } })

/** resolves when `check` holds; fails after `ms` naming `what` */
export async function until (check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** the topic the tests publish on */
export const TOPIC = 'sensors/sensor-1/load'

/**
 * whether worker `w` has `clientId`'s subscription to TOPIC: a subscription made on another worker reaches it over
 * Redis, and until then it queues nothing for that session (a SUBACK from the other worker does not say it has)
 */
export async function knows (w: TestBroker, clientId: string): Promise<boolean> {
  type Subs = (topic: string) => Promise<Array<{ clientId: string }>>
  const store = (w.broker.aedes as unknown as { persistence: { subscriptionsByTopic: Subs } }).persistence
  return (await store.subscriptionsByTopic(TOPIC)).some((s) => s.clientId === clientId)
}

/** publishes `payload` on TOPIC, resolved once acknowledged */
export async function publish (c: TestClient, payload: string, qos: 1 | 2): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    c.client.publish(TOPIC, payload, { qos }, (err) => { if (err == null) resolve(); else reject(err) })
  })
}

/** how many times `c` received `payload` */
export const count = (c: TestClient, payload: string): number => c.messages.filter((m) => m.payload === payload).length
