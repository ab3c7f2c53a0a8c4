// A packet id is never given to a new QoS 1/2 PUBLISH while another message to the same session still holds it
// (MQTT-2.2.1-3, MQTT-4.4.0-1). aedes numbers deliveries from a per-connection counter that starts anywhere and
// checks nothing: a persistent session back with a message in flight under id A (its PUBLISH, or its PUBREL)
// gave a new message A too once the counter reached it, and the subscriber acknowledged the wrong one or, at
// QoS 2, dropped the new one as a duplicate. The counter is set to A here (aedes starts it anywhere: A is as
// likely as any), and the queue read that sends the stored message again is held until the new message is
// sent, so that the id must be known from the store, not from the resend (aedes/packet-ids.ts).
import type { Client } from 'aedes'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish } from '../helpers/mqtt.js'
import { completeAll, connectPacket, packetWhere, rawClient, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { startOnStore } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { holdQueueRead as holdQueueReadOf, storeQueue } from '../helpers/store-holds.js'
import { clientsOf } from '../../apps/broker/src/aedes/accessors.js'
import { heldPacketIds } from '../../apps/broker/src/aedes/packet-ids.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/ids'
type Pub = Packet & { cmd: 'publish', payload: Buffer, qos: number, messageId: number, dup: boolean }

const idOf = (p: Packet): number | undefined => (p as { messageId?: number }).messageId
const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload

/** the next `event` of the client `clientId` (aedes passes the client first) */
function onClient (tb: TestBroker, event: 'client' | 'clientReady' | 'clientDisconnect', clientId: string): Promise<Client> {
  const broker = tb.broker.aedes as unknown as NodeJS.EventEmitter
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { broker.removeListener(event, on); resolve(c) } }
    broker.on(event, on)
  })
}

/** the broker has read everything `c` sent so far once it answers a PINGREQ sent after it */
async function handled (c: RawClient): Promise<void> {
  const n = c.packets.filter((p) => p.cmd === 'pingresp').length
  c.send({ cmd: 'pingreq' } as Packet)
  await packetWhere(c, () => c.packets.filter((p) => p.cmd === 'pingresp').length > n)
}

/**
 * Holds the stored queue aedes reads for `clientId`'s connection until `release` (a slow store): the store is read
 * at once, as aedes asks it, and what it gives is handed on once released. Undone after the test.
 */
function holdQueueRead (tb: TestBroker, clientId: string): { release: () => void } {
  return holdQueueReadOf(scope, tb, clientId, (read, released) => {
    // read from now: what the store has now is what is sent, once released
    const it = read()[Symbol.asyncIterator]()
    const first = it.next()
    first.catch(() => {})
    return (async function * () {
      await released
      for (let r = await first; r.done !== true; r = await it.next()) yield r.value
    })()
  })
}

type Left = 'publish' | 'pubrel'
const cases: Array<[string, 1 | 2, Left]> = [
  ['a QoS 1 PUBLISH not acknowledged', 1, 'publish'],
  ['a QoS 2 PUBLISH with no PUBREC', 2, 'publish'],
  ['a QoS 2 PUBREL with no PUBCOMP', 2, 'pubrel']
]

describe.each(['memory', 'level', 'redis'] as const)('a persistent session resumed on %s', (persistence) => {
  const start = (): Promise<TestBroker> => startOnStore(scope, persistence)

  it.each(cases)('holding %s under id A: a new message is not sent under A, and both complete', async (_, qos, left) => {
    const tb = await start()
    const clientId = `ids-${persistence}-${qos}-${left}`
    // CONNACK 0 or it throws
    const session = async (): Promise<RawClient> => scope.track(await rawSession(tb.port, 'dashboard', clientId, { clean: false }))
    const first = await session()
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos }] } as Packet)
    await first.next('suback')
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'm1', { qos })
    const m1 = await packetWhere(first, publishOf('m1')) as Pub
    if (left === 'pubrel') {
      first.send({ cmd: 'pubrec', messageId: m1.messageId } as Packet)
      await packetWhere(first, (p) => p.cmd === 'pubrel' && idOf(p) === m1.messageId)
    }
    // the broker has what the store must know of it (a QoS 1 id is written a moment later on redis: its ready
    // read waits for it)
    await handled(first)
    const away = onClient(tb, 'clientDisconnect', clientId)
    first.destroy()
    await away

    // the stored queue is read once the new message is sent: A is known from the store by then, or not at all
    const read = holdQueueRead(tb, clientId)
    // the returning connection's counter is at A (aedes starts it anywhere)
    void onClient(tb, 'client', clientId).then((c) => { (clientsOf(tb.broker.aedes)[c.id] as unknown as { _nextId: number })._nextId = m1.messageId })
    const ready = onClient(tb, 'clientReady', clientId)
    const back = await session()
    await publish(pub, TOPIC, 'm2', { qos })
    const m2 = await packetWhere(back, publishOf('m2')) as Pub
    read.release()
    await ready
    const again = await packetWhere(back, (p) => p.cmd === left && idOf(p) === m1.messageId && (left === 'pubrel' || publishOf('m1')(p)))
    if (again.cmd === 'publish') expect((again as Pub).dup).toBe(true)
    expect(m2.messageId).not.toBe(m1.messageId)
    expect(m2.dup).toBe(false)

    // both complete, each once; nothing is left
    completeAll(back)
    if (qos === 2) await packetWhere(back, (p) => p.cmd === 'pubrel' && idOf(p) === m2.messageId)
    // the last PUBACK or PUBCOMP is answered once its PUBLISH or PUBREL is in: read, then handled
    await handled(back)
    await handled(back)
    expect(back.isClosed).toBe(false)
    expect(back.packets.filter(publishOf('m2'))).toHaveLength(1)
    expect(await storeQueue(tb, clientId)).toEqual([])
  })
})

describe('a clean session', () => {
  it('holding a QoS 1 PUBLISH under id A: a new message is not sent under A', async () => {
    const tb = await scope.start({ config: { persistence: 'memory' } })
    const c = scope.track(await rawClient(tb.port))
    c.send(connectPacket('dashboard', 'ids-clean', { clean: true }))
    await c.next('connack')
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
    await c.next('suback')
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'm1', { qos: 1 })
    const m1 = await packetWhere(c, publishOf('m1')) as Pub
    ;(clientsOf(tb.broker.aedes)['ids-clean'] as unknown as { _nextId: number })._nextId = m1.messageId
    await publish(pub, TOPIC, 'm2', { qos: 1 })
    const m2 = await packetWhere(c, publishOf('m2')) as Pub
    expect(m2.messageId).not.toBe(m1.messageId)
  })
})

describe('a clean MQTT 5 session', () => {
  it('refusing a QoS 2 message (PUBREC 0x80) frees its id: the next message may be sent under it', async () => {
    const tb = await scope.start({ config: { persistence: 'memory', mqtt5: true } })
    const c = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('dashboard', 'ids-refuse', { clean: true, protocolVersion: 5 } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0 })
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
    await c.next('suback')
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'm1', { qos: 2 })
    const m1 = await packetWhere(c, publishOf('m1')) as Pub
    c.send({ cmd: 'pubrec', messageId: m1.messageId, reasonCode: 0x80 } as Packet)
    await handled(c)
    expect(c.packets.some((p) => p.cmd === 'pubrel')).toBe(false)
    ;(clientsOf(tb.broker.aedes)['ids-refuse'] as unknown as { _nextId: number })._nextId = m1.messageId
    await publish(pub, TOPIC, 'm2', { qos: 2 })
    const m2 = await packetWhere(c, publishOf('m2')) as Pub
    expect(m2.messageId).toBe(m1.messageId)
  })
})

// aedes gives a delivery its packet id, then lowers it to the QoS of an exact-topic subscription (lib/client.js
// deliverQoS): a QoS 0 PUBLISH is never acknowledged, so its id must not stay held (the held set would grow with
// every such message until no id was left to skip to)
it('frees the id of a delivery aedes lowers to QoS 0', async () => {
  await scope.start({ config: { persistence: 'memory' } })
  const reader = await scope.client('dashboard', { clientId: 'lowered-reader' })
  await reader.client.subscribeAsync({ 'sensors/sensor-1/a': { qos: 0 }, 'sensors/#': { qos: 1 } })
  const device = await scope.client('sensor-1')
  for (let i = 0; i < 20; i++) await publish(device, 'sensors/sensor-1/a', `m${i}`, { qos: 1 })
  await reader.waitFor((m) => m.payload === 'm19')
  const client = clientsOf(scope.tb.broker.aedes)['lowered-reader'] as Client
  expect(reader.messages.filter((m) => m.topic === 'sensors/sensor-1/a').length).toBeGreaterThanOrEqual(20)
  expect([...heldPacketIds(client)]).toEqual([])
})
