// Slow consumers: a bounded queue per persistent session, a bound on bytes waiting for a client that does
// not read, and aedes's drainTimeout; one frozen subscriber never holds up the others.
import type { Client } from 'aedes'
import { expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { patch } from '../helpers/http.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const start = (limits: Record<string, unknown>): Promise<TestBroker> => scope.start({ config: { limits } })
const client = (username: string, opts = {}): Promise<TestClient> => scope.client(username, opts)
const count = scope.count
const disconnected = (b: TestBroker, clientId: string): Promise<unknown> =>
  new Promise((resolve) => b.broker.aedes.on('clientDisconnect', (c: Client) => { if (c.id === clientId) resolve(c) }))

it('maxQueuedMessages: an offline session keeps the oldest messages; the newest are dropped and audited', async () => {
  await start({ maxQueuedMessages: 3 })
  const opts = { clientId: 'slow-dash', clean: false }
  const dash = await client('dashboard', opts)
  await subscribe(dash, 'sensors/#', 1)
  await dash.end()
  const s1 = await client('sensor-1')
  for (let i = 1; i <= 5; i++) await publish(s1, 'sensors/sensor-1/q', `m${i}`, { qos: 1 })
  expect(count('delivery:queue-full')).toBe(2)
  expect(scope.events[0]).toMatchObject({
    kind: 'delivery', reason: 'queue-full', clientId: 'slow-dash', detail: '3 messages queued for the offline session (limit 3): newest dropped'
  })
  const back = await client('dashboard', opts)
  await back.waitFor((m) => m.payload === 'm3')
  await publish(s1, 'sensors/sensor-1/q', 'live', { qos: 1 })
  await back.waitFor((m) => m.payload === 'live')
  expect(back.messages.map((m) => m.payload)).toEqual(['m1', 'm2', 'm3', 'live'])
  expect(count('delivery:queue-full')).toBe(2)
})

it('maxQueuedBytes: an offline session keeps the oldest messages up to its byte bound; the newest are dropped and audited', async () => {
  await start({ maxPacketBytes: 2048, maxQueuedBytes: 5000 })
  const opts = { clientId: 'bytes-dash', clean: false }
  const dash = await client('dashboard', opts)
  await subscribe(dash, 'sensors/#', 1)
  await dash.end()
  const s1 = await client('sensor-1')
  // each costs 18 bytes of topic + 1000 of payload: four fit in 5000
  for (let i = 1; i <= 6; i++) await publish(s1, 'sensors/sensor-1/q', `m${i}`.padEnd(1000, '.'), { qos: 1 })
  expect(count('delivery:queue-full')).toBe(2)
  expect(scope.events[0]).toMatchObject({
    kind: 'delivery',
    reason: 'queue-full',
    clientId: 'bytes-dash',
    detail: '4072 bytes queued for the offline session (limits.maxQueuedBytes 5000): newest dropped'
  })
  const back = await client('dashboard', opts)
  await back.waitFor((m) => m.payload.startsWith('m4'))
  await publish(s1, 'sensors/sensor-1/q', 'live', { qos: 1 })
  await back.waitFor((m) => m.payload === 'live')
  expect(back.messages.map((m) => m.payload.slice(0, 2))).toEqual(['m1', 'm2', 'm3', 'm4', 'li'])
})

it('maxQueuedMessages: a connected session that leaves that many unacknowledged is disconnected', async () => {
  const b = await start({ maxQueuedMessages: 3 })
  const r = await rawSession(b.port, 'dashboard', 'never-acks', { clean: false })
  scope.track(r)
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] })
  await r.next('suback')
  const s1 = await client('sensor-1')
  for (let i = 1; i <= 4; i++) await publish(s1, 'sensors/sensor-1/q', `m${i}`, { qos: 1 })
  await r.closed()
  expect(r.packets.filter((p) => p.cmd === 'publish')).toHaveLength(3)
  expect(count('delivery:slow-consumer')).toBe(1)
  expect(scope.events[0]).toMatchObject({
    kind: 'delivery', reason: 'slow-consumer', clientId: 'never-acks', username: 'dashboard', detail: '3 messages unacknowledged (limit 3): disconnected'
  })
})

/** A subscriber that subscribes to everything, then stops reading its socket. */
async function frozenSubscriber (b: TestBroker): Promise<RawClient> {
  const r = await rawSession(b.port, 'observer', 'frozen')
  scope.track(r)
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 0 }] })
  await r.next('suback')
  r.socket.pause()
  return r
}

/** Publishes `n` payloads of 32 KiB at QoS 0 and returns when a healthy subscriber has them all. */
async function flood (n: number, healthy: TestClient): Promise<void> {
  const s1 = await client('sensor-1')
  const payload = 'x'.repeat(32 * 1024)
  for (let i = 0; i < n; i++) await publish(s1, 'sensors/sensor-1/flood', `${i}:${payload}`)
  await healthy.waitFor((m) => m.payload.startsWith(`${n - 1}:`))
  expect(healthy.messages).toHaveLength(n)
}

// a loopback socket's kernel buffers hold a few MB: 600 × 32 KiB is well past them
const FLOOD = 600

it.each(['memory', 'level'] as const)('maxQueuedBytes: a connected session completing every QoS 2 message is not cut off past it (%s)', async (persistence) => {
  // a QoS 2 message leaves the queue as its PUBREL, which has no payload: its bytes must leave the count too
  await scope.start({ config: { persistence, limits: { maxPacketBytes: 1024, maxQueuedBytes: 4096 } } })
  const dash = await client('dashboard', { clientId: 'qos2-bytes', clean: false })
  await subscribe(dash, 'sensors/#', 2)
  const s1 = await client('sensor-1')
  const body = 'x'.repeat(200)
  // 60 messages of 200 bytes: three times the bound, each completed before the next is published
  for (let i = 0; i < 60; i++) {
    await publish(s1, 'sensors/sensor-1/q', `${i}:${body}`, { qos: 2 })
    await dash.waitFor((m) => m.payload === `${i}:${body}`)
  }
  expect(dash.client.connected).toBe(true)
  expect(count('delivery:queue-full')).toBe(0)
})

it.each(['memory', 'level'] as const)('maxQueuedMessages: what a connected session may no longer read is not kept: no cut-off (%s)', async (persistence) => {
  const tb = await scope.start({ config: { persistence, limits: { maxQueuedMessages: 3 } } })
  const dash = await client('dashboard', { clientId: 'revoked-dash', clean: false })
  await subscribe(dash, 'sensors/#', 1)
  // consumer → producer: it keeps its subscription, and reads sensors/# no more
  expect((await patch(tb, '/api/v1/users/dashboard', { roles: ['producer'] })).status).toBe(200)
  const s1 = await client('sensor-1')
  const observer = await client('observer')
  await subscribe(observer, 'sensors/#', 1)
  for (let i = 1; i <= 6; i++) await publish(s1, 'sensors/sensor-1/q', `m${i}`, { qos: 1 })
  await observer.waitFor((m) => m.payload === 'm6')
  expect(count('delivery:queue-full')).toBe(0)
  expect(dash.client.connected).toBe(true)
  expect(dash.messages).toEqual([])
})

it('maxOutgoingBytes: a subscriber that stops reading is cut off once that much waits for it; the others get everything', async () => {
  const b = await start({ maxPacketBytes: 65536, maxOutgoingBytes: 131072, drainTimeoutMs: 60000 })
  const healthy = await client('observer', { clientId: 'healthy' })
  await subscribe(healthy, 'sensors/#', 0)
  await frozenSubscriber(b)
  const gone = disconnected(b, 'frozen')
  await flood(FLOOD, healthy)
  await gone
  expect(count('delivery:slow-consumer')).toBe(1)
  expect(scope.events[0]).toMatchObject({ kind: 'delivery', reason: 'slow-consumer', clientId: 'frozen', username: 'observer' })
  expect(scope.events[0]?.detail).toMatch(/^\d+ bytes waiting to be written \(limit 131072\)$/)
})

it('drainTimeout (maxOutgoingBytes 0): a frozen subscriber is cut off after drainTimeoutMs and holds up no one for good', async () => {
  const b = await start({ maxOutgoingBytes: 0, drainTimeoutMs: 300 })
  const healthy = await client('observer', { clientId: 'healthy' })
  await subscribe(healthy, 'sensors/#', 0)
  await frozenSubscriber(b)
  const gone = disconnected(b, 'frozen')
  await flood(FLOOD, healthy)
  await gone
  expect(count('delivery:slow-consumer')).toBe(1)
  expect(scope.events[0]).toMatchObject({
    kind: 'delivery', reason: 'slow-consumer', clientId: 'frozen', detail: 'socket not drained within limits.drainTimeoutMs: disconnected'
  })
})
