// A QoS 2 message whose consumer group copy could not be kept fails its publish (no PUBREC): the device sends
// it again, and the groups that missed it get it then, while its ordinary subscribers, who had it, get it once.
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { patch, topicPath } from '../helpers/http.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import type { AuditEvent } from '../../apps/broker/src/audit/audit.js'

const redis = useSharedRedis()
const scope = useScope()
const QUEUE = 'warden:share:q:g/sensors/sensor-1/#'

/** a group member away (its group keeps copies), a live QoS 2 subscriber, the group's queue made unusable */
interface SetUp { tb: TestBroker, r: Redis, live: TestClient, keep: { clientId: string, clean: false } }

async function setUp (brokerId: string): Promise<SetUp> {
  const b = await scope.start({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId } })
  const keep = { clientId: `grp-member-${brokerId}`, clean: false as const }
  const member = await scope.client('dashboard', keep)
  await subscribe(member, '$share/g/sensors/sensor-1/#', 2)
  await member.end()
  const live = await scope.client('dashboard', { clientId: `live-${brokerId}` })
  await subscribe(live, 'sensors/sensor-1/#', 2)
  // its push fails (WRONGTYPE), the store's writes do not
  const r = new Redis(redis.url)
  scope.defer(() => r.disconnect())
  await r.set(QUEUE, 'not a list')
  return { tb: b, r, live, keep }
}

function publisher (url: string, clientId: string): { pub: mqtt.MqttClient, closes: () => Promise<void> } {
  const pub = mqtt.connect(url, { username: 'sensor-1', password: PASSWORD, clientId, clean: false, reconnectPeriod: 200 })
  scope.defer(() => new Promise<void>((resolve) => pub.end(true, {}, () => resolve())))
  return { pub, closes: () => new Promise<void>((resolve) => pub.once('close', () => resolve())) }
}

const send = (pub: mqtt.MqttClient, payload: string): Promise<void> => new Promise<void>((resolve, reject) => {
  pub.publish('sensors/sensor-1/t', payload, { qos: 2 }, (err) => err !== undefined && err !== null ? reject(err) : resolve())
})

/** sends m2, then checks that the returning group member and the live subscriber each got m1 and m2 once, in order */
async function bothHaveEach (pub: mqtt.MqttClient, live: TestClient, keep: SetUp['keep']): Promise<void> {
  await send(pub, 'm2')
  await live.waitFor((m) => m.payload === 'm2')
  const back = await scope.client('dashboard', keep)
  await back.waitFor((m) => m.payload === 'm2')
  expect({ group: back.messages.map((m) => m.payload), live: live.messages.map((m) => m.payload) })
    .toEqual({ group: ['m1', 'm2'], live: ['m1', 'm2'] })
}

it('a QoS 2 message sent again after its group copy failed reaches the group, and its live subscriber once', async () => {
  const { tb, r, live, keep } = await setUp('q2a')
  const { pub, closes } = publisher(tb.url, 'pub-q2a')
  const closed = closes()
  const done = send(pub, 'm1')
  await live.waitFor((m) => m.payload === 'm1')
  await closed // no PUBREC: the publish failed
  await r.del(QUEUE)
  await done // sent again on the next connection, and acknowledged
  await bothHaveEach(pub, live, keep)
})

it('a resend whose group copy fails again is not acknowledged: the next one reaches the group', async () => {
  const { tb, r, live, keep } = await setUp('q2b')
  const { pub, closes } = publisher(tb.url, 'pub-q2b')
  let acked = false
  const first = closes()
  const done = send(pub, 'm1').then(() => { acked = true })
  await live.waitFor((m) => m.payload === 'm1')
  await first
  // the queue still unusable: the resend's connection closes too, with no PUBREC (mqtt.js says 'connect' only
  // once what it had to send again is sent: it does not here)
  await Promise.race([closes(), done])
  expect(acked).toBe(false)
  await r.del(QUEUE)
  await done
  await bothHaveEach(pub, live, keep)
})

it('a resend is given to the groups only if its account still owns the stored topic, whatever topic the resend names', async () => {
  const { tb, r, live, keep } = await setUp('q2c')
  const first = await rawSession(tb.port, 'sensor-1', 'pub-q2c', { clean: false })
  scope.defer(() => first.destroy())
  first.send({ cmd: 'publish', topic: 'sensors/sensor-1/t', payload: Buffer.from('m1'), qos: 2, messageId: 7, dup: false, retain: false })
  await live.waitFor((m) => m.payload === 'm1')
  await first.closed()
  expect(first.packets.map((p) => p.cmd)).toEqual(['connack'])
  await r.del(QUEUE)
  // the topic given away meanwhile; the resend names one the account still owns, under the same packet id
  expect((await patch(tb, topicPath('sensors/sensor-1/#'), { owners: ['sensor-2'] })).status).toBe(200)
  const events: AuditEvent[] = []
  tb.broker.audit.onRecord((e) => { if (e.clientId === 'pub-q2c') events.push(e) })
  const again = await rawSession(tb.port, 'sensor-1', 'pub-q2c', { clean: false })
  scope.defer(() => again.destroy())
  again.send({ cmd: 'publish', topic: 'private/x', payload: Buffer.from('other'), qos: 2, messageId: 7, dup: true, retain: false })
  await again.next('pubrec') // its flow completes: the device does not send it forever

  const owner = await scope.client('sensor-2')
  await publish(owner, 'sensors/sensor-1/t', 'm2', { qos: 2 })
  const back = await scope.client('dashboard', keep)
  await back.waitFor((m) => m.payload === 'm2')
  expect(back.messages.map((m) => m.payload)).toEqual(['m2'])
  expect(events).toMatchObject([{ kind: 'publish', reason: 'not-owner', topic: 'sensors/sensor-1/t' }])
})

it('in a cluster, the resend reaches the groups from the worker it arrives at, and the live subscriber once', async () => {
  const { tb, r, live, keep } = await setUp('q2d-a')
  const other = await scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId: 'q2d-b' } })
  const first = await rawSession(tb.port, 'sensor-1', 'pub-q2d', { clean: false })
  scope.defer(() => first.destroy())
  first.send({ cmd: 'publish', topic: 'sensors/sensor-1/t', payload: Buffer.from('m1'), qos: 2, messageId: 9, dup: false, retain: false })
  await live.waitFor((m) => m.payload === 'm1')
  await first.closed()
  expect(first.packets.map((p) => p.cmd)).toEqual(['connack'])
  await r.del(QUEUE)
  // sent again to the other worker: the stored message and the record of the groups that missed it are in Redis
  const again = await rawSession(other.port, 'sensor-1', 'pub-q2d', { clean: false })
  scope.defer(() => again.destroy())
  again.send({ cmd: 'publish', topic: 'sensors/sensor-1/t', payload: Buffer.from('m1'), qos: 2, messageId: 9, dup: true, retain: false })
  await again.next('pubrec')
  again.send({ cmd: 'pubrel', messageId: 9 })
  await again.next('pubcomp')
  const pub = await scope.client('sensor-1', { clientId: 'pub-q2d-next' })
  await publish(pub, 'sensors/sensor-1/t', 'm2', { qos: 2 })

  await live.waitFor((m) => m.payload === 'm2')
  const back = await scope.client('dashboard', keep, other)
  await back.waitFor((m) => m.payload === 'm2')
  expect({ group: back.messages.map((m) => m.payload), live: live.messages.map((m) => m.payload) })
    .toEqual({ group: ['m1', 'm2'], live: ['m1', 'm2'] })
})
