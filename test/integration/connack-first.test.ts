// A persistent session resumed while messages are published gets its CONNACK first (MQTT-3.2.0-1). aedes restores
// the session's subscriptions before it stores the will and sends the CONNACK, and wrote the live messages they
// matched in between at once: the client read PUBLISHes before its CONNACK. MQTT.js then keeps the PUBACK for
// later and reads nothing more until its connect timeout closes the connection (a consumer resuming its session on
// a cluster under load was kept out ~40 s so). Here the connect step after the subscriptions' restore (the will's
// removal from the store) is held while a message of each QoS is delivered, then let go.
import type { Client } from 'aedes'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { CONNECT_TIMEOUT_MS, connect, publish, subscribe } from '../helpers/mqtt.js'
import { completeAll, connectPacket, packetWhere, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { startOnStore } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { gate, storeOfBroker } from '../helpers/store-holds.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/connack-first'
const MESSAGES = [['m0', 0], ['m1', 1], ['m2', 2]] as const

type Pub = Packet & { cmd: 'publish', payload: Buffer }
const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload

interface WillStore {
  delWill (c: Client): Promise<unknown>
  outgoingUpdate (c: Client, packet: { cmd?: string, payload?: unknown }): Promise<unknown>
}

/** the next `event` of the client `clientId` (aedes passes the client first) */
function onClient (tb: TestBroker, event: 'clientDisconnect', clientId: string): Promise<unknown> {
  const broker = tb.broker.aedes as unknown as NodeJS.EventEmitter
  return new Promise((resolve) => {
    const on = (c: { id: string }): void => { if (c.id === clientId) { broker.removeListener(event, on); resolve(c) } }
    broker.on(event, on)
  })
}

/**
 * Holds the first CONNECT of `clientId` at the step after its subscriptions are restored (aedes removes the stored
 * will, then stores the new one, then registers the client and sends CONNACK) until `release`. Undone after the test.
 */
function holdAfterRestore (tb: TestBroker, clientId: string): { held: Promise<void>, release: () => void, client: () => Client | undefined } {
  const store = storeOfBroker(tb) as unknown as WillStore
  const delWill = store.delWill
  const g = gate()
  let hit = false
  let held: Client | undefined
  store.delWill = async function heldDelWill (this: WillStore, c) {
    if (!hit && c.id === clientId) {
      hit = true
      held = c
      g.onHeld()
      await g.released
    }
    return await delWill.call(this, c)
  }
  scope.defer(() => { store.delWill = delWill; g.release() })
  return { held: g.held, release: g.release, client: () => held }
}

/**
 * Resolves once the store has recorded the packet id of a live delivery of `payload` to `clientId`: aedes writes
 * the PUBLISH in that call's continuation, before the next turn of the event loop.
 */
function deliveryRecorded (tb: TestBroker, clientId: string, payload: string): Promise<void> {
  const store = storeOfBroker(tb) as unknown as WillStore
  const update = store.outgoingUpdate
  return new Promise((resolve) => {
    store.outgoingUpdate = async function watchedUpdate (this: WillStore, c, packet) {
      const r = await update.call(this, c, packet)
      if (c.id === clientId && packet.cmd === 'publish' && String(packet.payload) === payload) {
        store.outgoingUpdate = update
        resolve()
      }
      return r
    }
    scope.defer(() => { store.outgoingUpdate = update })
  })
}

/** publishes m0, m1, m2 at QoS 0, 1, 2 while the CONNECT is held, and waits until each was written or kept back */
async function publishWhileHeld (tb: TestBroker, clientId: string): Promise<void> {
  const recorded = deliveryRecorded(tb, clientId, 'm2')
  const pub = await scope.client('sensor-1')
  // one publisher, in order: m0's delivery (no store call) is queued before m2's is recorded
  for (const [payload, qos] of MESSAGES) await publish(pub, TOPIC, payload, { qos })
  await recorded
  await new Promise((resolve) => setImmediate(resolve))
}

/** a CONNECT of a persistent session for `clientId` (MQTT 5: Clean Start 0, expiry 300 s) */
const sessionConnect = (clientId: string, version: 4 | 5): Packet => connectPacket('dashboard', clientId, {
  clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {})
} as Partial<Packet>)

/** a persistent session subscribed to sensors/# at `qos`, then away */
async function awaySession (tb: TestBroker, clientId: string, version: 4 | 5, qos: 1 | 2 = 2): Promise<void> {
  const first = scope.track(await rawClient(tb.port, { protocolVersion: version }))
  first.send(sessionConnect(clientId, version))
  await first.next('connack')
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos }] } as Packet)
  await first.next('suback')
  const away = onClient(tb, 'clientDisconnect', clientId)
  first.destroy()
  await away
}

/**
 * m0, m1, m2 each came once to `back`; the PUBREL of m2 is answered and a PINGREQ after it too: the broker read it
 * all and kept the connection
 */
async function eachOnceStillOpen (back: RawClient): Promise<void> {
  for (const [payload] of MESSAGES) expect(back.packets.filter(publishOf(payload))).toHaveLength(1)
  back.send({ cmd: 'pingreq' } as Packet)
  await back.next('pingresp')
  await packetWhere(back, (p) => p.cmd === 'pubrel')
  expect(back.isClosed).toBe(false)
}

describe.each(['memory', 'level', 'redis'] as const)('a persistent session resumed on %s while messages are published', (persistence) => {
  const start = (): Promise<TestBroker> => startOnStore(scope, persistence)

  /** a broker, a persistent session `clientId` away from it, and its next CONNECT to be held after its restore */
  async function awayThenHeld (clientId: string, version: 4 | 5): Promise<{ tb: TestBroker, clientId: string, hold: ReturnType<typeof holdAfterRestore> }> {
    const tb = await start()
    await awaySession(tb, clientId, version)
    return { tb, clientId, hold: holdAfterRestore(tb, clientId) }
  }

  it.each([4, 5] as const)('MQTT %s: its CONNACK comes first, then each message once, and the connection stays', async (version) => {
    const { tb, clientId, hold } = await awayThenHeld(`connack-first-${persistence}-${version}`, version)
    const back: RawClient = scope.track(await rawClient(tb.port, { protocolVersion: version }))
    back.send(sessionConnect(clientId, version))
    await hold.held
    await publishWhileHeld(tb, clientId)
    hold.release()
    completeAll(back)
    for (const [payload] of MESSAGES) await packetWhere(back, publishOf(payload))
    const [first] = back.packets as Array<Packet & { returnCode?: number, reasonCode?: number, sessionPresent?: boolean }>
    expect(first?.cmd).toBe('connack')
    expect(first?.returnCode ?? first?.reasonCode).toBe(0)
    expect(first?.sessionPresent).toBe(true)
    await eachOnceStillOpen(back)
  })

  it('an MQTT.js client resuming its session meanwhile is connected, and gets each message', async () => {
    const { tb, clientId, hold } = await awayThenHeld(`connack-first-mqttjs-${persistence}`, 4)
    const opts = { clientId, clean: false, connectTimeout: CONNECT_TIMEOUT_MS }
    const connecting = connect(tb.url, 'dashboard', opts)
    await hold.held
    await publishWhileHeld(tb, clientId)
    hold.release()
    // MQTT.js (5.16) read the PUBLISHes as a client not connected, and nothing after them: it was not connected
    // once its connect timeout had passed
    const c = await connecting
    scope.defer(() => c.end())
    for (const [payload] of MESSAGES) await c.waitFor((m) => m.payload === payload, payload)
    expect(c.messages.map((m) => m.payload).sort()).toEqual(['m0', 'm1', 'm2'])
  })

  // MQTT 5, Clean Start 0 and no Session Expiry Interval: the stored session is resumed and ends with the connection
  // (resume-queue.ts). aedes took the client as clean until its CONNACK: a message its restored subscriptions got
  // before it was written with no packet id recorded, and the queue replay sent it again under another (at QoS 2 a
  // second message); the client's PUBREC of the first copy then closed the connection.
  it('MQTT 5 resuming with no Session Expiry: each message once, and the connection stays', async () => {
    const { tb, clientId, hold } = await awayThenHeld(`connack-first-no-expiry-${persistence}`, 5)
    const back: RawClient = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
    back.send(connectPacket('dashboard', clientId, { clean: false, protocolVersion: 5 } as Partial<Packet>))
    await hold.held
    // without the fix the client is clean until its CONNACK: no packet id recorded, and this waits out the test
    await publishWhileHeld(tb, clientId)
    hold.release()
    completeAll(back)
    for (const [payload] of MESSAGES) await packetWhere(back, publishOf(payload))
    expect(back.packets[0]?.cmd).toBe('connack')
    await eachOnceStillOpen(back)
  })

  // What was kept for a connection gone before its CONNACK was never sent: read back from the queue with the packet
  // ids it was given, each is a first delivery, DUP 0 (MQTT-3.3.1-1; resend-dup.ts). The Redis store, shared by the
  // processes, does not track what was never sent: DUP 1 there.
  it('gone before its CONNACK: the next connection gets each message once, DUP 0 but on Redis', async () => {
    const { tb, clientId, hold } = await awayThenHeld(`connack-first-gone-${persistence}`, 4)
    const back = scope.track(await rawClient(tb.port))
    back.send(sessionConnect(clientId, 4))
    await hold.held
    await publishWhileHeld(tb, clientId)
    const conn = (hold.client() as Client).conn as unknown as NodeJS.EventEmitter
    const closed = new Promise((resolve) => conn.once('close', resolve))
    back.destroy()
    await closed
    hold.release()
    const again = scope.track(await rawClient(tb.port))
    again.send(sessionConnect(clientId, 4))
    completeAll(again)
    for (const [payload] of MESSAGES.slice(1)) await packetWhere(again, publishOf(payload))
    again.send({ cmd: 'pingreq' } as Packet)
    await again.next('pingresp')
    await packetWhere(again, (p) => p.cmd === 'pubrel')
    expect(again.packets[0]?.cmd).toBe('connack')
    for (const [payload] of MESSAGES.slice(1)) {
      const got = again.packets.filter(publishOf(payload)) as Array<Pub & { dup: boolean }>
      expect(got).toHaveLength(1)
      expect(got[0]?.dup).toBe(persistence === 'redis')
    }
  })
})

describe('what waits for a resumed session\'s CONNACK', () => {
  const MAX_OUT = 131072
  const PAYLOAD = 'x'.repeat(8192)
  const FLOOD = 40 // 320 KiB: past MAX_OUT

  // The bytes kept for after the CONNACK wait in memory to be written to the connection, as bytes on its socket do:
  // they count against limits.maxOutgoingBytes, past which the client is cut off (its session keeps its QoS 1/2
  // messages). Kept apart from the socket, they counted against nothing: a flood matching the session's
  // subscriptions while its will was being stored (a slow store) was held in full, however large.
  it('counts against maxOutgoingBytes: a flood past it while the CONNECT is under way cuts the client off', async () => {
    const tb = await scope.start({
      config: { persistence: 'memory', limits: { maxPacketBytes: 65536, maxOutgoingBytes: MAX_OUT, publishRate: { perSecond: 1e7, burst: 1e7 } } }
    })
    const clientId = 'connack-first-flood'
    await awaySession(tb, clientId, 4, 1)
    const healthy = await scope.client('observer', { clientId: 'connack-first-healthy' })
    await subscribe(healthy, 'sensors/#', 0)
    const hold = holdAfterRestore(tb, clientId)
    const back = scope.track(await rawClient(tb.port))
    back.send(connectPacket('dashboard', clientId, { clean: false } as Partial<Packet>))
    await hold.held
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'kept', { qos: 1 })
    for (let i = 0; i < FLOOD; i++) await publish(pub, TOPIC, `${i}:${PAYLOAD}`)
    // delivered to every subscriber in one emit: the observer's last message comes after the resumed session's copy
    await healthy.waitFor((m) => m.payload.startsWith(`${FLOOD - 1}:`))
    expect(scope.count('delivery:slow-consumer')).toBe(1)
    expect(scope.events.find((e) => e.reason === 'slow-consumer')).toMatchObject({ kind: 'delivery', clientId, username: 'dashboard' })
    await back.closed()
    expect(back.packets.filter((p) => p.cmd === 'publish')).toEqual([])
    hold.release()
    // the session kept its QoS 1 message: the next connection gets it
    const again = await scope.client('dashboard', { clientId, clean: false })
    await again.waitFor((m) => m.payload === 'kept', 'kept')
  })
})

// Known deviation, not fixed (MQTT-4.6.0: an ordered topic; 3.1.1 4.6): aedes restores a session's subscriptions
// before it reads its queue, so a message published as the session resumes goes live, and the messages queued
// before it, read afterwards, come after it. The same holds for one published after the CONNACK while the queue
// is read (aedes's emptyQueue), so it is not the CONNACK's waiting that does it; keeping live messages until the
// replay is over would. So on every store (Redis too); memory and level here. This test pins the deviation as it
// is, each message once: once it is fixed, it fails, and its expectation becomes ['queued', 'live'].
describe.each(['memory', 'level'] as const)('a message published as a session resumes on %s', (persistence) => {
  it.each([1, 2] as const)('QoS %s: comes before those queued before it (known deviation from MQTT-4.6.0), each once', async (qos) => {
    const tb = await startOnStore(scope, persistence)
    const clientId = `connack-first-order-${persistence}-${qos}`
    await awaySession(tb, clientId, 4, qos)
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'queued', { qos })
    const hold = holdAfterRestore(tb, clientId)
    const back = scope.track(await rawClient(tb.port))
    back.send(connectPacket('dashboard', clientId, { clean: false } as Partial<Packet>))
    await hold.held
    // its live copy is kept for the CONNACK (not written after it, racing the queue's read)
    const recorded = deliveryRecorded(tb, clientId, 'live')
    await publish(pub, TOPIC, 'live', { qos })
    await recorded
    await new Promise((resolve) => setImmediate(resolve))
    hold.release()
    completeAll(back)
    await packetWhere(back, publishOf('queued'))
    await packetWhere(back, publishOf('live'))
    // MQTT-4.6.0 wants ['queued', 'live']
    expect(back.packets.filter((p) => p.cmd === 'publish').map((p) => (p as Pub).payload.toString())).toEqual(['live', 'queued'])
  })
})
