// Flow control as an account holder would turn it against the others: a subscriber that reads its socket at
// full speed but acknowledges none of its QoS 1 messages must not hold the publishers it reads from for ever.
// A clean session has no stored-queue bound to cut it off at, so what it leaves unacknowledged only grows.
import { expect, it } from 'vitest'
import type { Packet } from 'mqtt-packet'
import { baseConfig, type TestBroker } from '../helpers/broker.js'
import { maxOf, publishPaced } from '../helpers/flow.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

async function start (): Promise<TestBroker> {
  const base = await baseConfig()
  const users = base.users as Array<Record<string, unknown>>
  const consumer = users.find((u) => u.username === 'dashboard') as Record<string, unknown>
  return await scope.start({
    config: {
      // congested from 50 unacknowledged QoS 1 messages; 200 is the bound
      limits: { maxQueuedMessages: 200 },
      users: [...users, { ...consumer, username: 'mallory' }],
      topics: [...(base.topics as unknown[]), { filter: 'sensors/mallory/#', owners: ['mallory'] }]
    }
  })
}

it('a subscriber that reads everything and acknowledges nothing stops holding publishers once past its bound', async () => {
  const b = await start()
  // reads all it is sent (the raw client's socket flows), never sends a PUBACK
  const sub = await rawSession(b.port, 'mallory', 'mallory-sub')
  scope.defer(() => sub.destroy())
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
  await sub.next('suback')
  // and feeds itself, so that it always reads more than minDrainBytesPerSec
  const feed = await scope.client('mallory', { clientId: 'mallory-feed' })
  const payload = Buffer.alloc(8192, 'm')
  const feeding = setInterval(() => feed.client.publish('sensors/mallory/feed', payload, { qos: 1 }), 20)
  scope.defer(() => clearInterval(feeding))
  await expect.poll(() => b.broker.flow.congested().length, { timeout: 10_000 }).toBe(1)
  const since = Date.now()
  // past 200 unacknowledged, where a persistent session would be cut off, it holds no one
  await expect.poll(() => b.broker.flow.congested().length, { timeout: 15_000 }).toBe(0)
  expect(Date.now() - since).toBeLessThan(15_000)
  expect(sub.isClosed).toBe(false)
  // an honest device publishing where it reads is not held
  const sensor = await scope.client('sensor-1', { clientId: 'sensor-1-victim' })
  const pace = await publishPaced(sensor, 'sensors/sensor-1/temp', 't', 10)
  expect(maxOf(pace.waits)).toBeLessThan(500)
  expect(b.broker.flow.congested()).toEqual([])
})
