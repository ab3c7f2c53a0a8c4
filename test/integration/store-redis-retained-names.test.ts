// Retained messages on the Redis store for topics holding Redis glob characters ('[', ']', '*', '?', '\'), all
// legal in MQTT topics: a wildcard filter whose literal part holds one gets its retained messages, as on the
// other stores. aedes-persistence-redis scanned the retained hash with that literal part as a glob pattern:
// `a[b]/+` never got the retained `a[b]/c` (store/redis-retained.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let redis: TestRedis
let tb: TestBroker

beforeAll(async () => {
  redis = await startRedis()
  tb = await startBroker({ config: { persistence: 'redis', redis: { url: redis.url } } })
  const owner = await connect5(scope, tb.url, 'sensor-1', { clientId: 'owner' })
  for (const t of ['a[b]/c', 'x*y/c', 'q?/c', 'b\\s/c', '[/c', 'plain/c', 'plain', 'marker']) {
    await owner.client.publishAsync(`sensors/sensor-1/${t}`, t, { qos: 1, retain: true })
  }
  await owner.end()
})
afterAll(async () => {
  await tb.close()
  await redis.stop()
})

/**
 * the retained messages a new subscription of `filters` is sent: once `expected` of them have come, a subscription of
 * the marker (retained too) is made and what came before it is returned. (Subscribed before they came, the marker's
 * one read could overtake the scan of the wildcard filters: 'plain/c' came after it once in a full run.)
 */
async function retainedFor (filters: string[], expected: number): Promise<string[]> {
  const c = await connect5(scope, tb.url, 'dashboard', { clientId: `r-${Math.random().toString(36).slice(2)}` })
  await subscribe5(c, filters, { qos: 1 })
  await c.count(expected)
  await subscribe5(c, 'sensors/sensor-1/marker', { qos: 1 })
  await c.next((p) => p.topic === 'sensors/sensor-1/marker')
  await c.end()
  return c.got.map((p) => p.payload.toString()).slice(0, -1)
}

describe('Redis store, retained messages for filters with glob characters', () => {
  it.each([
    ['sensors/sensor-1/a[b]/+', 'a[b]/c'],
    ['sensors/sensor-1/x*y/#', 'x*y/c'],
    ['sensors/sensor-1/q?/+', 'q?/c'],
    ['sensors/sensor-1/b\\s/#', 'b\\s/c'],
    ['sensors/sensor-1/[/+', '[/c']
  ])('%s gets %s', async (filter, want) => {
    expect(await retainedFor([filter], 1)).toEqual([want])
  })

  it('a parent level still matches # and an exact filter beside a wildcard one is sent once', async () => {
    expect((await retainedFor(['sensors/sensor-1/plain/#'], 2)).sort()).toEqual(['plain', 'plain/c'])
    expect((await retainedFor(['sensors/sensor-1/x*y/c', 'sensors/sensor-1/x*y/+'], 1))).toEqual(['x*y/c'])
  })
})
