// QoS 2 messages to a connected persistent subscriber on the level store are given their packet id as they are
// queued (aedes/queued-ids.ts, store/level-queues.ts): the id is in the queue entry, and the PUBREL replaces it.
// What MQTT asks of them still holds when the session is taken over with messages queued and not yet sent, or
// in flight (PUBLISH sent; PUBREC sent, PUBREL pending), under an MQTT 5 Receive Maximum that holds some back,
// with overlapping subscriptions of QoS 1 and 2, and with a subscriber that never answers: each message once,
// resent under its id with DUP 1 only if it may have been sent, no connection closed, nothing left in the store.
import type { Client } from 'aedes'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { baseConfig, type TestBroker } from '../helpers/broker.js'
import { patch } from '../helpers/http.js'
import { holdLevelBatches } from '../helpers/level-hold.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { completeAll, connectPacket, packetWhere, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { connect5 } from '../helpers/mqtt5.js'
import { useScope } from '../helpers/scope.js'
import { storeOf } from '../../apps/broker/src/aedes/store.js'
import { clientsOf } from '../../apps/broker/src/aedes/accessors.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/qid'
type Pub = Packet & { cmd: 'publish', payload: Buffer, qos: number, messageId: number, dup: boolean }

/** what the store still holds for `clientId`: queued messages and PUBRELs, as its queue would be read */
async function storeQueue (tb: TestBroker, clientId: string): Promise<Array<{ cmd: string, messageId?: number }>> {
  const store = storeOf((tb.broker.aedes as unknown as { persistence: unknown }).persistence)
  const out: Array<{ cmd: string, messageId?: number }> = []
  for await (const p of store.outgoingStream({ id: clientId })) out.push(p as { cmd: string, messageId?: number })
  return out
}

function ready (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('clientReady', on); resolve() } }
    tb.broker.aedes.on('clientReady', on)
  })
}

function gone (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('clientDisconnect', on); resolve() } }
    tb.broker.aedes.on('clientDisconnect', on)
  })
}

/** a raw persistent session of `clientId` (MQTT 5 when `properties` are given), once aedes has sent its stored queue */
async function reader (tb: TestBroker, clientId: string, properties?: Record<string, unknown>): Promise<RawClient> {
  const version = properties !== undefined ? 5 : 4
  const c = scope.track(await rawClient(tb.port, { protocolVersion: version }))
  const replayed = ready(tb, clientId)
  const extra = { clean: false, protocolVersion: version, ...(properties !== undefined ? { properties } : {}) }
  c.send(connectPacket('dashboard', clientId, extra as Partial<Packet>))
  const ack = await c.next('connack') as { reasonCode?: number, returnCode?: number }
  expect(ack.reasonCode ?? ack.returnCode).toBe(0)
  await replayed
  return c
}

const idOf = (p: Packet): number | undefined => (p as { messageId?: number }).messageId
const publishes = (c: RawClient): Pub[] => c.packets.filter((p): p is Pub => p.cmd === 'publish')
const text = (ps: Pub[]): string[] => ps.map((p) => p.payload.toString())
const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload

async function nWhere (c: RawClient, n: number, pred: (p: Packet) => boolean): Promise<Packet[]> {
  await packetWhere(c, () => c.packets.filter(pred).length >= n)
  return c.packets.filter(pred)
}

/** the broker has read everything `c` sent so far once it answers a PINGREQ sent after it */
async function handled (c: RawClient): Promise<void> {
  const n = c.packets.filter((p) => p.cmd === 'pingresp').length
  c.send({ cmd: 'pingreq' } as Packet)
  await nWhere(c, n + 1, (p) => p.cmd === 'pingresp')
}

/** publishes a QoS 0 marker and waits for it: what was published before it at QoS 2 and not held back is there */
async function marker (c: RawClient, payload = 'marker'): Promise<void> {
  const pub = await scope.client('sensor-1')
  await publish(pub, TOPIC, payload, { qos: 0 })
  await packetWhere(c, publishOf(payload))
}

describe('a QoS 2 message queued with its packet id, the session taken over', () => {
  it('in flight (PUBLISH sent, no PUBREC; PUBREC sent, PUBREL pending): the new connection gets both again, same ids, PUBLISH DUP 1', async () => {
    const tb = await scope.start()
    const first = await reader(tb, 'qid-take')
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await first.next('suback')
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'a', { qos: 2 })
    await publish(pub, TOPIC, 'b', { qos: 2 })
    const [a, b] = await nWhere(first, 2, (p) => p.cmd === 'publish') as Pub[]
    expect(text([a as Pub, b as Pub])).toEqual(['a', 'b'])
    first.send({ cmd: 'pubrec', messageId: a?.messageId } as Packet)
    await first.next('pubrel')

    const closed = first.closed()
    const second = await reader(tb, 'qid-take')
    await closed
    await marker(second)
    const again = second.packets.filter((p) => p.cmd === 'pubrel' || (p.cmd === 'publish' && (p as Pub).qos === 2))
    expect(again.map((p) => ({ cmd: p.cmd, messageId: (p as Pub).messageId, dup: (p as Pub).dup }))).toEqual([
      { cmd: 'pubrel', messageId: a?.messageId, dup: false },
      { cmd: 'publish', messageId: b?.messageId, dup: true }
    ])
    completeAll(second)
    await publish(pub, TOPIC, 'c', { qos: 2 })
    await packetWhere(second, publishOf('c'))
    await nWhere(second, 2, (p) => p.cmd === 'pubrel' && idOf(p) !== a?.messageId)
    await handled(second)
    expect(second.isClosed).toBe(false)
    expect(second.packets.filter(publishOf('c')).map((p) => (p as Pub).dup)).toEqual([false])
    expect(await storeQueue(tb, 'qid-take')).toEqual([])

    // and after a restart: nothing comes back
    second.destroy()
    await second.closed()
    const tb2 = await scope.restart()
    const third = await reader(tb2, 'qid-take')
    await marker(third, 'marker-2')
    expect(third.packets.filter((p) => p.cmd === 'pubrel' || (p.cmd === 'publish' && (p as Pub).qos > 0))).toEqual([])
  })

  it('queued (its id given and on its way to disk) and not yet sent: the new connection gets it once, DUP 0', async () => {
    const tb = await scope.start()
    const first = await reader(tb, 'qid-queued')
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await first.next('suback')
    // the batch that queues the message for it (with its id) is held: the message is not delivered meanwhile
    const holds = holdLevelBatches(scope)
    const queued = holds.hold((key, value) => key.startsWith('outgoing:qid-queued:') && value.includes('held-1'))
    const pub = await scope.client('sensor-1')
    const published = publish(pub, TOPIC, 'held-1', { qos: 2 })
    await queued.held
    const closed = first.closed()
    // takeover: its CONNACK comes before the held write, its queue is read after it
    const c = scope.track(await rawClient(tb.port))
    const replayed = ready(tb, 'qid-queued')
    c.send(connectPacket('dashboard', 'qid-queued', { clean: false }))
    await c.next('connack')
    await closed
    queued.release()
    await replayed
    await published
    completeAll(c)
    await marker(c)
    await handled(c)
    expect(publishes(first).filter(publishOf('held-1'))).toEqual([])
    expect(publishes(c).filter(publishOf('held-1')).map((p) => p.dup)).toEqual([false])
    expect(c.isClosed).toBe(false)
    await nWhere(c, 1, (p) => p.cmd === 'pubrel')
    await handled(c)
    expect(await storeQueue(tb, 'qid-queued')).toEqual([])
  })
})

describe('QoS 2 messages queued with their packet ids, an MQTT 5 Receive Maximum of 1', () => {
  it('a burst is delivered once each, in order, as acknowledgements come; after a reconnect held ones go DUP 0, the one in flight DUP 1', async () => {
    const tb = await scope.start({ config: { mqtt5: true } })
    const session = { receiveMaximum: 1, sessionExpiryInterval: 300 }
    const first = await reader(tb, 'qid-rm', session)
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await first.next('suback')
    const pub = await scope.client('sensor-1')
    const burst = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']
    for (const m of burst) await publish(pub, TOPIC, m, { qos: 2 })
    await marker(first)
    // one in flight at a time: complete r1 and r2
    for (const m of ['r1', 'r2']) {
      const p = await packetWhere(first, publishOf(m)) as Pub
      first.send({ cmd: 'pubrec', messageId: p.messageId } as Packet)
      await packetWhere(first, (x) => x.cmd === 'pubrel' && idOf(x) === p.messageId)
      first.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet)
    }
    const r3 = await packetWhere(first, publishOf('r3')) as Pub
    await handled(first)
    expect(text(publishes(first).filter((p) => p.qos === 2))).toEqual(['r1', 'r2', 'r3'])
    // it goes with r3 in flight and r4..r6 held back
    const left = gone(tb, 'qid-rm')
    first.destroy()
    await left

    const back = await reader(tb, 'qid-rm', { ...session, receiveMaximum: 10 })
    completeAll(back)
    await nWhere(back, 4, (p) => p.cmd === 'publish' && (p as Pub).qos === 2)
    await nWhere(back, 4, (p) => p.cmd === 'pubrel')
    await handled(back)
    const got = publishes(back).filter((p) => p.qos === 2)
    expect(got.map((p) => ({ m: p.payload.toString(), dup: p.dup }))).toEqual([
      { m: 'r3', dup: true }, { m: 'r4', dup: false }, { m: 'r5', dup: false }, { m: 'r6', dup: false }
    ])
    expect(got[0]?.messageId).toBe(r3.messageId)
    expect(new Set(got.map((p) => p.messageId)).size).toBe(4)
    expect(back.isClosed).toBe(false)
    expect(await storeQueue(tb, 'qid-rm')).toEqual([])
  })
})

describe('a QoS 2 message queued with its packet id and held back by an MQTT 5 Receive Maximum of 1', () => {
  it('is not sent once its Message Expiry Interval has passed, and leaves the queue', async () => {
    const tb = await scope.start({ config: { mqtt5: true } })
    const r = await reader(tb, 'qid-expiry', { receiveMaximum: 1, sessionExpiryInterval: 300 })
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await r.next('suback')
    const pub = await connect5(scope, tb.url, 'sensor-1')
    await pub.client.publishAsync(TOPIC, 'first', { qos: 2 })
    await pub.client.publishAsync(TOPIC, 'short', { qos: 2, properties: { messageExpiryInterval: 1 } })
    await pub.client.publishAsync(TOPIC, 'long', { qos: 2, properties: { messageExpiryInterval: 60 } })
    const first = await packetWhere(r, publishOf('first')) as Pub
    // no event tells that a second has passed
    await new Promise((resolve) => setTimeout(resolve, 1100))
    completeAll(r)
    await packetWhere(r, publishOf('long'))
    await nWhere(r, 2, (p) => p.cmd === 'pubrel')
    await handled(r)
    expect(text(publishes(r))).toEqual(['first', 'long'])
    expect(first.dup).toBe(false)
    expect(await storeQueue(tb, 'qid-expiry')).toEqual([])
  })
})

describe('a QoS 2 message matching a QoS 1 and a QoS 2 subscription of one persistent session', () => {
  it.each([
    ['QoS 1 filter first', [{ topic: 'sensors/#', qos: 1 }, { topic: 'sensors/sensor-1/#', qos: 2 }]],
    ['QoS 2 filter first', [{ topic: 'sensors/#', qos: 2 }, { topic: 'sensors/sensor-1/#', qos: 1 }]]
  ])('is delivered once and leaves the queue once acknowledged (%s)', async (_, subscriptions) => {
    const tb = await scope.start()
    const r = await reader(tb, 'qid-overlap')
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions } as Packet)
    await r.next('suback')
    completeAll(r)
    const pub = await scope.client('sensor-1')
    for (const m of ['o1', 'o2', 'o3']) await publish(pub, TOPIC, m, { qos: 2 })
    await marker(r)
    await handled(r)
    await handled(r)
    expect(text(publishes(r).filter((p) => p.qos > 0))).toEqual(['o1', 'o2', 'o3'])
    expect(r.isClosed).toBe(false)
    expect(await storeQueue(tb, 'qid-overlap')).toEqual([])
    const left = gone(tb, 'qid-overlap')
    r.destroy()
    await left
    const back = await reader(tb, 'qid-overlap')
    await marker(back, 'marker-2')
    expect(publishes(back).filter((p) => p.qos > 0)).toEqual([])
  })
})

describe('a persistent QoS 2 subscriber that never answers', () => {
  it('thousands of QoS 2 messages: the broker stays up, the others get every one, the subscriber is cut off at its queue bound', async () => {
    const tb = await scope.start({ config: { limits: { maxQueuedMessages: 1500 } } })
    const stuck = await reader(tb, 'qid-stuck')
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await stuck.next('suback')
    const other = await scope.client('dashboard')
    await subscribe(other, 'sensors/#', 2)
    const pub = await scope.client('sensor-1')
    const N = 2000
    // in rounds: no more than limits.maxInflightInbound (1024) of the publisher's own awaiting PUBREL
    for (let k = 0; k < N; k += 500) {
      await Promise.all(Array.from({ length: Math.min(500, N - k) }, async (_, i) => await publish(pub, TOPIC, `s${k + i}`, { qos: 2 })))
    }
    await other.waitFor((m) => m.payload === `s${N - 1}`)
    await stuck.closed()
    // ids given while it was connected were all distinct
    const ids = publishes(stuck).map((p) => p.messageId)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.length).toBeGreaterThan(1400)
    expect(new Set(other.messages.map((m) => m.payload)).size).toBe(N)
  })
})

/** aedes's packet id counter of the connection of `clientId` (the next id it gives) */
const counterOf = (tb: TestBroker, clientId: string): { _nextId: number } =>
  clientsOf(tb.broker.aedes)[clientId] as unknown as { _nextId: number }

describe('an id given at queue time, after a restart, to a session whose queue holds messages in flight under ids of its own', () => {
  // the queue bound reads a session's queue before its first message is queued (limits/queue-bound.ts): off here
  const unbounded = { limits: { maxQueuedMessages: 0, maxQueuedBytes: 0 } }

  it.each([
    ['PUBLISH sent, no PUBREC', false],
    ['PUBREC sent, PUBREL pending', true]
  ])('is never one of those (%s): they are sent again under their own ids, a new message under another', async (_, pubrec) => {
    let tb = await scope.start({ config: unbounded })
    // a session away, for a write of its queue held after the restart (a slow disk)
    const holder = await reader(tb, 'qid-holder')
    holder.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/sensor-2/#', qos: 1 }] } as Packet)
    await holder.next('suback')
    holder.destroy()
    await holder.closed()
    const first = await reader(tb, 'qid-clash')
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/sensor-1/#', qos: 2 }] } as Packet)
    await first.next('suback')
    await publish(await scope.client('sensor-1'), TOPIC, 'm1', { qos: 2 })
    const m1 = await packetWhere(first, publishOf('m1')) as Pub
    if (pubrec) {
      first.send({ cmd: 'pubrec', messageId: m1.messageId } as Packet)
      await first.next('pubrel')
    }
    const left = gone(tb, 'qid-clash')
    first.destroy()
    await left

    tb = await scope.restart()
    // the queue write of a message for the holder is held: every write after it waits, the replay's read too
    const holds = holdLevelBatches(scope)
    const slow = holds.hold((key) => key.startsWith('outgoing:qid-holder:'))
    const pub2 = await scope.client('sensor-2')
    const holding = publish(pub2, 'sensors/sensor-2/x', 'h', { qos: 1 })
    await slow.held
    // the returning session's counter starts where m1's id is (aedes starts it anywhere)
    tb.broker.aedes.on('connackSent', (_ack: unknown, c: Client) => { if (c.id === 'qid-clash') counterOf(tb, 'qid-clash')._nextId = m1.messageId })
    const back = scope.track(await rawClient(tb.port))
    const replayed = ready(tb, 'qid-clash')
    back.send(connectPacket('dashboard', 'qid-clash', { clean: false }))
    await back.next('connack')
    // a new message queued for it while its queue is being read
    const pub = await scope.client('sensor-1')
    const published = publish(pub, TOPIC, 'm2', { qos: 2 })
    for (let i = 0; counterOf(tb, 'qid-clash')._nextId === m1.messageId; i++) {
      if (i > 300) throw new Error('m2 was not queued')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    slow.release()
    await Promise.all([holding, published, replayed])
    await marker(back)
    await handled(back)
    const again = back.packets.find((p) => pubrec ? p.cmd === 'pubrel' : publishOf('m1')(p)) as Pub
    const want = { cmd: pubrec ? 'pubrel' : 'publish', messageId: m1.messageId, dup: !pubrec }
    expect({ cmd: again.cmd, messageId: again.messageId, dup: again.dup }).toEqual(want)
    const m2 = await packetWhere(back, publishOf('m2')) as Pub
    expect(m2.messageId).not.toBe(m1.messageId)
    expect(m2.dup).toBe(false)
    // both complete; nothing is left
    completeAll(back)
    await nWhere(back, 2, (p) => p.cmd === 'pubrel')
    await handled(back)
    expect(back.isClosed).toBe(false)
    expect(await storeQueue(tb, 'qid-clash')).toEqual([])
  })
})

describe('a QoS 2 message a persistent MQTT 5 session publishes on its own No Local subscription', () => {
  it('is not sent to it, now or when it comes back, and leaves its queue', async () => {
    const base = await baseConfig() as { users: Array<Record<string, unknown>>, topics: Array<Record<string, unknown>> }
    const tb = await scope.start({
      config: {
        mqtt5: true,
        users: [...base.users, { ...base.users[0], username: 'dual', roles: ['consumer'] }],
        topics: [...base.topics, { filter: 'sensors/dual/#', owners: ['dual'] }]
      }
    })
    const session = { sessionExpiryInterval: 300 }
    const open = async (): Promise<RawClient> => {
      const c = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
      const replayed = ready(tb, 'qid-nl')
      c.send(connectPacket('dual', 'qid-nl', { clean: false, protocolVersion: 5, properties: session } as Partial<Packet>))
      expect(await c.next('connack')).toMatchObject({ reasonCode: 0 })
      await replayed
      return c
    }
    const c = await open()
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2, nl: true }] } as Packet)
    await c.next('suback')
    const other = await scope.client('dashboard')
    await subscribe(other, 'sensors/#', 2)
    c.send({ cmd: 'publish', topic: 'sensors/dual/x', payload: Buffer.from('own'), qos: 2, messageId: 7, retain: false, dup: false } as Packet)
    await c.next('pubrec')
    c.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await c.next('pubcomp')
    await other.waitFor((m) => m.payload === 'own')
    await marker(c)
    expect(publishes(c).filter(publishOf('own'))).toEqual([])
    expect(await storeQueue(tb, 'qid-nl')).toEqual([])
    const left = gone(tb, 'qid-nl')
    c.destroy()
    await left
    const back = await open()
    await marker(back, 'marker-2')
    expect(publishes(back).filter(publishOf('own'))).toEqual([])
  })
})

describe('a message for a persistent reader whose read right is revoked (a QoS 2 one queued with its packet id)', () => {
  it.each([2, 1] as const)('is not sent (QoS %i), and leaves the queue: not sent later either once the right is given back', async (qos) => {
    const tb = await scope.start()
    const r = await reader(tb, 'qid-revoke')
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await r.next('suback')
    expect((await patch(tb, '/api/v1/users/dashboard', { roles: ['producer'] })).status).toBe(200)
    const pub = await scope.client('sensor-1')
    const other = await scope.client('observer')
    await subscribe(other, 'sensors/#', 2)
    await publish(pub, TOPIC, 'unread', { qos })
    await other.waitFor((m) => m.payload === 'unread')
    await handled(r)
    expect(publishes(r)).toEqual([])
    expect(r.isClosed).toBe(false)
    expect(await storeQueue(tb, 'qid-revoke')).toEqual([])
    expect((await patch(tb, '/api/v1/users/dashboard', { roles: ['consumer'] })).status).toBe(200)
    const left = gone(tb, 'qid-revoke')
    r.destroy()
    await left
    const back = await reader(tb, 'qid-revoke')
    await marker(back)
    expect(text(publishes(back))).toEqual(['marker'])
  })
})
