// Traffic limits, each refusal audited: subscriptions per client, topic length, publish rate.
import { expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const start = (limits: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<TestBroker> => scope.start({ config: { limits, ...config } })
const client = (username: string, opts = {}): Promise<TestClient> => scope.client(username, opts)
const count = scope.count
function unsubscribe (c: TestClient, filter: string): Promise<void> {
  return new Promise((resolve, reject) => c.client.unsubscribe(filter, (err) => err ? reject(err) : resolve()))
}

it('maxSubscriptionsPerClient: SUBACK 0x80 past the limit; renewing one is free; unsubscribing makes room', async () => {
  await start({ maxSubscriptionsPerClient: 2 })
  const obs = await client('observer')
  expect(await subscribe(obs, ['sensors/a', 'sensors/b', 'sensors/c'], 1)).toEqual([1, 1, 128])
  expect(await subscribe(obs, 'sensors/a', 0)).toEqual([0])
  expect(scope.events).toMatchObject([
    { kind: 'subscribe', reason: 'max-subscriptions', username: 'observer', topic: 'sensors/c', detail: '2 subscriptions already (limit 2)' }
  ])
  await unsubscribe(obs, 'sensors/b')
  expect(await subscribe(obs, 'sensors/c', 1)).toEqual([1])
  // a filter refused by the read rules does not take a place
  const dash = await client('dashboard')
  expect(await subscribe(dash, ['private/#', 'sensors/x', 'sensors/y'], 1)).toEqual([128, 1, 1])
  expect(count('subscribe:max-subscriptions')).toBe(1)
})

it('maxTopicLength: a longer topic is refused like a publish the client does not own; a longer filter gets 0x80', async () => {
  await start({ maxTopicLength: 32 })
  const obs = await client('observer')
  await subscribe(obs, '#', 1)
  const s1 = await client('sensor-1')
  const long = `sensors/sensor-1/${'x'.repeat(16)}`
  await publish(s1, long, 'too long', { qos: 1 })
  await publish(s1, 'sensors/sensor-1/ok', 'marker', { qos: 1 })
  await obs.waitFor((m) => m.payload === 'marker')
  expect(obs.messages.map((m) => m.payload)).toEqual(['marker'])
  expect(await subscribe(obs, `${'y/'.repeat(20)}#`, 0)).toEqual([128])
  expect(count('publish:topic-too-long')).toBe(1)
  expect(count('subscribe:topic-too-long')).toBe(1)
  expect(scope.events[0]).toMatchObject({ kind: 'publish', reason: 'topic-too-long', username: 'sensor-1', topic: long, qos: 1 })
})

it('publishRate drop: past the burst, messages are acknowledged and dropped, and audited', async () => {
  await start({ publishRate: { perSecond: 1, burst: 3, onExcess: 'drop' } })
  const obs = await client('observer')
  await subscribe(obs, 'sensors/#', 1)
  const s1 = await client('sensor-1')
  for (let i = 1; i <= 6; i++) await publish(s1, 'sensors/sensor-1/r', `m${i}`, { qos: 1 })
  // another client's bucket is its own
  const s2 = await client('sensor-2')
  await publish(s2, 'sensors/sensor-2/r', 'marker', { qos: 1 })
  await obs.waitFor((m) => m.payload === 'marker')
  expect(obs.messages.map((m) => m.payload)).toEqual(['m1', 'm2', 'm3', 'marker'])
  expect(count('publish:publish-rate')).toBe(3)
  expect(scope.events[0]).toMatchObject({ kind: 'publish', reason: 'publish-rate', username: 'sensor-1', detail: 'more than 1/s (burst 3)' })
  expect(s1.client.connected).toBe(true)
})

it('publishRate disconnect: the client past its burst is disconnected', async () => {
  await start({ publishRate: { perSecond: 1, burst: 2, onExcess: 'disconnect' } })
  const s1 = await client('sensor-1')
  for (let i = 0; i < 3; i++) s1.client.publish('sensors/sensor-1/r', String(i), { qos: 0 })
  await s1.closed()
  expect(count('publish:publish-rate')).toBe(1)
})

it('publishRate delay (the default mode): nothing is lost, the publisher is slowed down to the rate', async () => {
  const b = await start({ publishRate: { perSecond: 20, burst: 1, onExcess: 'delay' } })
  const obs = await client('observer')
  await subscribe(obs, 'sensors/#', 1)
  const s1 = await client('sensor-1')
  const t0 = Date.now()
  await Promise.all(Array.from({ length: 10 }, (_, i) => publish(s1, 'sensors/sensor-1/r', `m${i}`, { qos: 1 })))
  await obs.waitFor((m) => m.payload === 'm9')
  // 1 at once, then 9 more at 20/s
  expect(Date.now() - t0).toBeGreaterThanOrEqual(400)
  expect(obs.messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`))
  expect(b.broker.limits.stats.publishDelayed).toBeGreaterThanOrEqual(9)
  expect(count('publish:publish-rate')).toBe(0)
})
