// A message is sent once to a persistent session resumed while it was being published. aedes restores the
// session's subscriptions, sends CONNACK, then reads its stored queue and sends each entry; a message already in
// that queue whose live copy reaches the connection only after the read (its publisher's way from the store to
// the bus is slow: the publish gate, a Redis bus) was sent twice, from the queue and live — at QoS 2 a second
// message under another packet id. Here the publish is held between its queue write and its emit until the
// returning connection has been sent it from the queue; then it goes on to the bus.
import type { Client } from 'aedes'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, type TestClient } from '../helpers/mqtt.js'
import { completeAll, packetWhere, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { startOnStore } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { gate, holdQueueRead as holdQueueReadOf, storeOfBroker, storeQueue, type HeldStore } from '../helpers/store-holds.js'
import { clientsOf } from '../../apps/broker/src/aedes/accessors.js'
import { heldPacketIds } from '../../apps/broker/src/aedes/packet-ids.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/resume'
type Pub = Packet & { cmd: 'publish', payload: Buffer, qos: number, messageId: number, dup: boolean }

const idOf = (p: Packet): number | undefined => (p as { messageId?: number }).messageId
const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload

/** the next `event` of the client `clientId` (aedes passes the client first) */
function onClient (tb: TestBroker, event: 'clientReady' | 'clientDisconnect', clientId: string): Promise<unknown> {
  const broker = tb.broker.aedes as unknown as NodeJS.EventEmitter
  return new Promise((resolve) => {
    const on = (c: { id: string }): void => { if (c.id === clientId) { broker.removeListener(event, on); resolve(c) } }
    broker.on(event, on)
  })
}

/**
 * Holds the publish of `payload` once its queue entries are written, before aedes goes on to the bus (a slow
 * publisher's path): `held` resolves then, `release` lets it go on. Undone after the test.
 */
function holdAfterQueueing (tb: TestBroker, payload: string): { held: Promise<void>, release: () => void } {
  const store = storeOfBroker(tb)
  const enqueue = store.outgoingEnqueueCombi
  const g = gate()
  store.outgoingEnqueueCombi = async function heldEnqueue (this: HeldStore, subs, packet) {
    const r = await enqueue.call(this, subs, packet)
    if (String(packet.payload) === payload) {
      g.onHeld()
      await g.released
    }
    return r
  }
  scope.defer(() => { store.outgoingEnqueueCombi = enqueue; g.release() })
  return { held: g.held, release: g.release }
}

/**
 * Holds the stored queue aedes reads for `clientId`'s connection after its first packet, until `release` (a slow
 * store, or a slow first delivery). Undone after the test.
 */
function holdQueueReadAfterFirst (tb: TestBroker, clientId: string): { release: () => void } {
  return holdQueueReadOf(scope, tb, clientId, (read, released) => {
    const it = read()[Symbol.asyncIterator]()
    return (async function * () {
      const first = await it.next()
      if (first.done === true) return
      yield first.value
      // the next one is read once released
      await released
      for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value
    })()
  })
}

/**
 * Holds the first update of the store for a delivery of `payload` (aedes records the packet id it gives a QoS 1/2
 * PUBLISH before it writes it) until `release`; `held` resolves then. Undone after the test.
 */
function holdFirstUpdate (tb: TestBroker, payload: string): { held: Promise<void>, release: () => void } {
  const store = storeOfBroker(tb)
  const update = store.outgoingUpdate
  const g = gate()
  let hit = false
  store.outgoingUpdate = async function heldUpdate (this: HeldStore, c, packet) {
    if (!hit && packet.cmd === 'publish' && String(packet.payload) === payload) {
      hit = true
      g.onHeld()
      await g.released
    }
    return await update.call(this, c, packet)
  }
  scope.defer(() => { store.outgoingUpdate = update; g.release() })
  return { held: g.held, release: g.release }
}

/**
 * Holds the stored queue aedes reads for `clientId`'s connection, not read at all until `release`. Undone after
 * the test.
 */
function holdQueueRead (tb: TestBroker, clientId: string): { release: () => void } {
  return holdQueueReadOf(scope, tb, clientId, (read, released) => (async function * () {
    await released
    yield * read()
  })())
}

/** the broker has read everything `c` sent so far once it answers a PINGREQ sent after it */
async function handled (c: RawClient): Promise<void> {
  const n = c.packets.filter((p) => p.cmd === 'pingresp').length
  c.send({ cmd: 'pingreq' } as Packet)
  await packetWhere(c, () => c.packets.filter((p) => p.cmd === 'pingresp').length > n)
}

describe.each(['memory', 'level', 'redis'] as const)('a persistent session resumed on %s while a message is published', (persistence) => {
  const start = (): Promise<TestBroker> => startOnStore(scope, persistence)

  /** a persistent session subscribed to sensors/# at `qos`, then away */
  async function awaySession (tb: TestBroker, clientId: string, qos: 1 | 2): Promise<() => Promise<RawClient>> {
    // CONNACK 0 or it throws
    const session = async (): Promise<RawClient> => scope.track(await rawSession(tb.port, 'dashboard', clientId, { clean: false }))
    const first = await session()
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos }] } as Packet)
    await first.next('suback')
    const away = onClient(tb, 'clientDisconnect', clientId)
    first.destroy()
    await away
    return session
  }

  /** m2, published after m1, is sent live after it: m1's live copy, if any, is in by then; each is sent once */
  async function sentOnce (tb: TestBroker, back: RawClient, pub: TestClient, clientId: string, qos: 1 | 2): Promise<void> {
    await publish(pub, TOPIC, 'm2', { qos })
    await packetWhere(back, publishOf('m2'))
    completeAll(back)
    if (qos === 2) await packetWhere(back, (p) => p.cmd === 'pubrel' && idOf(p) === (back.packets.find(publishOf('m2')) as Pub).messageId)
    await handled(back)
    await handled(back)
    expect(back.isClosed).toBe(false)
    expect(back.packets.filter(publishOf('m1')).map((p) => [idOf(p), (p as Pub).dup])).toHaveLength(1)
    expect(back.packets.filter(publishOf('m2'))).toHaveLength(1)
    expect(await storeQueue(tb, clientId)).toEqual([])
    // every packet id is free again, the one given to a copy not sent too
    expect([...heldPacketIds(clientsOf(tb.broker.aedes)[clientId] as Client)]).toEqual([])
  }

  /** a persistent session `name` at `qos`, away; m1 queued for it and held on its way to the bus; the session back */
  async function backWhileM1OnItsWay (name: string, qos: 1 | 2): Promise<{
    tb: TestBroker, clientId: string, hold: ReturnType<typeof holdAfterQueueing>, pub: TestClient,
    published: Promise<void>, ready: Promise<unknown>, back: RawClient
  }> {
    const tb = await start()
    const clientId = `${name}-${persistence}-${qos}`
    const session = await awaySession(tb, clientId, qos)
    // m1 is queued for the session while it is away, and is on its way to the bus as it comes back
    const hold = holdAfterQueueing(tb, 'm1')
    const pub = await scope.client('sensor-1')
    const published = publish(pub, TOPIC, 'm1', { qos })
    await hold.held
    const ready = onClient(tb, 'clientReady', clientId)
    const back = await session()
    return { tb, clientId, hold, pub, published, ready, back }
  }

  it.each([1, 2] as const)('QoS %i: queued before its queue is read, live after the read sent it: sent once', async (qos) => {
    const { tb, clientId, hold, pub, published, ready, back } = await backWhileM1OnItsWay('resume-live', qos)
    // sent from the queue
    await packetWhere(back, publishOf('m1'))
    await ready
    // now on the bus: the connection, subscribed again, is its live subscriber
    hold.release()
    await published
    await sentOnce(tb, back, pub, clientId, qos)
  })

  it.each([1, 2] as const)('QoS %i: the same, the copy from the queue acknowledged before the live one comes: sent once', async (qos) => {
    const { tb, clientId, hold, pub, published, ready, back } = await backWhileM1OnItsWay('resume-acked', qos)
    completeAll(back)
    const m1 = await packetWhere(back, publishOf('m1'))
    if (qos === 2) await packetWhere(back, (p) => p.cmd === 'pubrel' && idOf(p) === idOf(m1))
    await ready
    // its acknowledgement (PUBACK, PUBCOMP) is in
    await handled(back)
    expect(await storeQueue(tb, clientId)).toEqual([])
    hold.release()
    await published
    await sentOnce(tb, back, pub, clientId, qos)
  })

  it.each([1, 2] as const)('QoS %i: queued before its queue is read, live while the read sends an earlier one: sent once', async (qos) => {
    const tb = await start()
    const clientId = `resume-during-${persistence}-${qos}`
    const session = await awaySession(tb, clientId, qos)
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'm0', { qos })
    const hold = holdAfterQueueing(tb, 'm1')
    const published = publish(pub, TOPIC, 'm1', { qos })
    await hold.held
    // the read has both, and hands on m1 only once m1's live copy came
    const read = holdQueueReadAfterFirst(tb, clientId)
    const ready = onClient(tb, 'clientReady', clientId)
    const back = await session()
    await packetWhere(back, publishOf('m0'))
    hold.release()
    await published
    // m1b, published after m1, is sent live after it: m1's live copy is in by then, or dropped (the read, which
    // reads ahead, had it already)
    await publish(pub, TOPIC, 'm1b', { qos })
    await packetWhere(back, publishOf('m1b'))
    read.release()
    await ready
    await sentOnce(tb, back, pub, clientId, qos)
    expect(back.packets.filter(publishOf('m0'))).toHaveLength(1)
    expect(back.packets.filter(publishOf('m1b'))).toHaveLength(1)
  })

  it.each([1, 2] as const)('QoS %i: its live copy on its way to the connection as the read sends it: sent once', async (qos) => {
    const tb = await start()
    const clientId = `resume-crossing-${persistence}-${qos}`
    const session = await awaySession(tb, clientId, qos)
    const hold = holdAfterQueueing(tb, 'm1')
    const pub = await scope.client('sensor-1')
    const published = publish(pub, TOPIC, 'm1', { qos })
    await hold.held
    // the session is back, its subscriptions live, its queue not read yet
    const read = holdQueueRead(tb, clientId)
    const ready = onClient(tb, 'clientReady', clientId)
    const back = await session()
    // m1's live copy is let through (nothing sent it yet) and its packet id is being recorded...
    const live = holdFirstUpdate(tb, 'm1')
    hold.release()
    await live.held
    // ...as the read sends it
    read.release()
    await packetWhere(back, publishOf('m1'))
    await ready
    live.release()
    await published
    await sentOnce(tb, back, pub, clientId, qos)
  })
})
