// Canaries: how bare aedes 1.2 (no Warden) numbers, publishes and delivers messages, as Warden's patches
// assume (publish-gate.ts, qos2-guard.ts, forward-dedupe.ts, hooks.ts). Each fails when that behaviour changes.
import { afterEach, expect, it } from 'vitest'
import type { Packet } from 'mqtt-packet'
import { brokerInternals, type PublishFn } from '../../apps/broker/src/aedes/internals.js'
import { clientOf, startBareBroker, until, type BareBroker } from '../helpers/bare-aedes.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'

const opened: Array<BareBroker | RawClient> = []
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await ('port' in o ? o.close() : o.destroy())
})
const noop = (): void => {}
const publishes = (c: RawClient): Array<Packet & { topic: string, qos: number }> => c.packets.filter((p) => p.cmd === 'publish') as never

async function bare (opts = {}): Promise<BareBroker> {
  const b = await startBareBroker(opts)
  opened.push(b)
  return b
}
async function session (b: BareBroker, id: string, extra = {}): Promise<RawClient> {
  const c = await rawClient(b.port)
  opened.push(c)
  c.send(connectPacket(undefined, id, extra))
  await c.next('connack')
  return c
}
async function subscribed (b: BareBroker, id: string, topic: string, qos: 0 | 1 | 2): Promise<RawClient> {
  const c = await session(b, id)
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet)
  await c.next('suback')
  return c
}
const message = (topic: string, qos: 0 | 1 | 2 = 0): Packet =>
  ({ cmd: 'publish', topic, payload: Buffer.from('m'), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: 9 } : {}) }) as Packet

it('reads client.duplicates at each delivery to drop a repeated QoS 2 packet (forward-dedupe.ts replaces it)', async () => {
  const b = await bare()
  const sub = await session(b, 'dup-sub')
  const c = clientOf(b, 'dup-sub')
  const packet = { cmd: 'publish', topic: 'd', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, brokerId: 'other', brokerCounter: 5 }
  c.deliverQoS({ ...packet }, noop)
  c.deliverQoS({ ...packet }, noop)
  await until(() => publishes(sub).length >= 1)
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(publishes(sub)).toHaveLength(1)
  c.duplicates = Object.create(null) as Record<string, number> // a table that forgot: aedes must read the new one
  c.deliverQoS({ ...packet }, noop)
  await until(() => publishes(sub).length === 2)
})

it('numbers each packet it builds with broker.counter + 1, synchronously inside publish() (publish-gate.ts predicts it)', async () => {
  const b = await bare()
  const seen: number[] = []
  b.broker.subscribe('n', (p, cb) => { seen.push((p as { brokerCounter: number }).brokerCounter); cb() }, noop)
  const internals = brokerInternals(b.broker)
  const before = internals.counter
  b.broker.publish({ cmd: 'publish', topic: 'n', payload: Buffer.from('1'), qos: 0, retain: false, dup: false }, noop)
  expect(internals.counter).toBe(before + 1)
  b.broker.publish({ cmd: 'publish', topic: 'n', payload: Buffer.from('2'), qos: 0, retain: false, dup: false }, noop)
  expect(internals.counter).toBe(before + 2)
  await until(() => seen.length === 2)
  expect(seen).toEqual([before + 1, before + 2])
})

it('lets messages of clients and wills reach subscribers only through broker.publish and then mq.emit', async () => {
  const b = await bare()
  const internals = brokerInternals(b.broker)
  const viaPublish: string[] = []
  const viaEmit: string[] = []
  const publish = internals.publish.bind(b.broker) as PublishFn
  internals.publish = (packet, client, done) => { viaPublish.push(packet.topic); publish(packet, client, done) }
  const emit = internals.mq.emit.bind(internals.mq)
  internals.mq.emit = (packet, cb) => { viaEmit.push((packet as { topic: string }).topic); emit(packet, cb) }
  const sub = await subscribed(b, 'entry-sub', 'e/#', 0)
  const pub = await session(b, 'entry-pub', { will: { topic: 'e/will', payload: Buffer.from('w'), qos: 0, retain: false } })
  pub.send(message('e/0'))
  pub.send(message('e/1', 1))
  pub.send(message('e/2', 2))
  await pub.next('pubrec')
  pub.destroy() // no DISCONNECT: the will is published
  await until(() => publishes(sub).length === 4)
  const received = publishes(sub).map((p) => p.topic).sort()
  expect(received).toEqual(['e/0', 'e/1', 'e/2', 'e/will'])
  for (const t of received) {
    expect(viaPublish).toContain(t)
    expect(viaEmit).toContain(t)
  }
})

it('writes a QoS 1 PUBACK before it publishes the message (publish-gate.ts publishes before the PUBACK)', async () => {
  const b = await bare()
  const internals = brokerInternals(b.broker)
  const publish = internals.publish.bind(b.broker) as PublishFn
  internals.publish = (packet, client, done) => { if (packet.topic !== 'held') publish(packet, client, done) } // never completes
  const pub = await session(b, 'ack-pub')
  pub.send(message('held', 1))
  await pub.next('puback')
})

it('answers PUBREC without publishing a QoS 2 PUBLISH it finds stored under its packet id (qos2-guard.ts)', async () => {
  const b = await bare()
  const internals = brokerInternals(b.broker)
  const viaPublish: string[] = []
  const publish = internals.publish.bind(b.broker) as PublishFn
  internals.publish = (packet, client, done) => { viaPublish.push(packet.topic); publish(packet, client, done) }
  const store = (b.broker as unknown as { persistence: { incomingStorePacket (c: { id: string }, p: object): Promise<void> } }).persistence
  await store.incomingStorePacket({ id: 'q2' }, { ...message('stored', 2), brokerId: 'x', brokerCounter: 1 })
  const pub = await session(b, 'q2', { clean: false })
  pub.send(message('stored', 2))
  await pub.next('pubrec')
  expect(viaPublish).not.toContain('stored')
})

it('does not downgrade a wildcard subscriber to its granted QoS (client-internals.ts cappedQos)', async () => {
  const b = await bare()
  const sub = await subscribed(b, 'w-sub', 'w/#', 1)
  const pub = await session(b, 'w-pub')
  pub.send(message('w/x', 2))
  await until(() => publishes(sub).length === 1)
  expect(publishes(sub)[0]?.qos).toBe(2)
})
