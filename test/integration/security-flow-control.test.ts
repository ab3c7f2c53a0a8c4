// Flow control as an account holder would turn it against the others: a subscriber that reads its socket at
// full speed but acknowledges none of its QoS 1 messages must not hold the publishers it reads from for ever.
// A clean session has no stored-queue bound to cut it off at, so what it leaves unacknowledged only grows.
import { expect, it } from 'vitest'
import type { Packet } from 'mqtt-packet'
import { baseConfig, type TestBroker } from '../helpers/broker.js'
import { maxOf, publishPaced } from '../helpers/flow.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { patch, topicPath } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
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

// the rules judged it before it waited, up to limits.flowControl.maxHoldMs
it('a held publish is judged again when let go: its owner revoked meanwhile, it is refused, audited and delivered to no one', async () => {
  const b = await scope.start({ config: { limits: { flowControl: { maxHoldMs: 10_000 } } } })
  const observer = await scope.client('observer')
  await subscribe(observer, ['sensors/#', '$SYS/warden/audit/#'], 1)
  // a subscriber of another worker congested on sensors/# (as flow-link.ts hands it over from Redis)
  const key = 'worker-b\u0000slow-dash'
  b.broker.flow.peer.set(key, [['sensors/#']], 10_000)
  const s1 = await scope.client('sensor-1')
  const held = b.broker.flow.stats.held
  const acked = publish(s1, 'sensors/sensor-1/t', 'held-then-revoked', { qos: 1 })
  // the broker runs in this process: it takes the PUBLISH, accepted by the rules, and holds it
  while (b.broker.flow.stats.held === held) await new Promise((resolve) => setImmediate(resolve))

  // while it waits, the subtree goes to sensor-2; then the congested subscriber is clear
  expect((await patch(b, topicPath('sensors/sensor-1/#'), { owners: ['sensor-2'] })).status).toBe(200)
  b.broker.flow.peer.clear(key)
  await acked
  // the new owner's message comes through; the held one never did
  await publish(await scope.client('sensor-2'), 'sensors/sensor-1/t', 'marker', { qos: 1 })
  await observer.waitFor((m) => m.payload === 'marker')
  expect(observer.messages.filter((m) => m.topic === 'sensors/sensor-1/t').map((m) => m.payload)).toEqual(['marker'])
  const denial = await observer.waitFor((m) => m.topic.startsWith('$SYS/warden/audit/') &&
    (JSON.parse(m.payload) as { topic?: string }).topic === 'sensors/sensor-1/t', 'audit event')
  expect(JSON.parse(denial.payload)).toMatchObject({ kind: 'publish', reason: 'not-owner', username: 'sensor-1', filter: 'sensors/sensor-1/#' })
  expect((JSON.parse(denial.payload) as { detail?: string }).detail).toMatch(/flow control/)
})
