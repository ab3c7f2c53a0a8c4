// An MQTT 5 session resumed with Clean Start 0 and no Session Expiry Interval gets its queued QoS 2 messages in
// order, PUBRELs included (MQTT-4.6.0-2, -3), however its PUBRECs fall around the end of the queue's replay.
// Warden keeps such a connection persistent in aedes's eyes while it lasts (aedes/resume-queue.ts): were it
// clean again after the replay, a PUBREC answered then would get its PUBREL at once, ahead of one answered
// during the replay whose PUBREL was still being stored. MQTT.js hands a QoS 2 message over at its PUBREL, so
// those messages reach the application out of order. A held LevelDB write (a slow disk) makes the race certain.
import type { Client } from 'aedes'
import type { IPublishPacket } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { holdLevelBatches, type BatchHold } from '../helpers/level-hold.js'
import { publish } from '../helpers/mqtt.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { connectPacket, encode, packetWhere, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { clientsOf, parserOf } from '../../apps/broker/src/aedes/accessors.js'
import { storeOf } from '../../apps/broker/src/aedes/store.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/ordered'
const PAYLOADS = ['ordered-1', 'ordered-2', 'ordered-3', 'ordered-4']
const LAST = PAYLOADS[PAYLOADS.length - 1] as string
type Publish = Packet & IPublishPacket

/** a broker on `persistence` (Redis: a private one, stopped after the broker) */
async function startOn (persistence: 'level' | 'redis', config: Record<string, unknown> = {}): Promise<TestBroker> {
  let redis: TestRedis | undefined
  const started: TestBroker[] = []
  if (persistence === 'redis') {
    const r = redis = await startRedis()
    scope.defer(async () => { for (const b of started) await b.stop(); await r.stop() })
  }
  const tb = await scope.start({ config: { mqtt5: true, persistence, ...(redis !== undefined ? { redis: { url: redis.url } } : {}), ...config } })
  started.push(tb)
  return tb
}

/** whether the store holds queued or in-flight packets or subscriptions of `clientId` */
async function storeHolds (tb: TestBroker, clientId: string): Promise<boolean> {
  const store = storeOf((tb.broker.aedes as unknown as { persistence: unknown }).persistence)
  for await (const _ of store.outgoingStream({ id: clientId })) return true
  return (await store.subscriptionsByClient({ id: clientId })).length > 0
}

/**
 * resolves once the store holds nothing of `clientId`, asked every 10 ms; rejects after 3 s. aedes ends a session
 * in the store after its connection closed, and says nothing when it is done: a CONNECT of the id coming before
 * that still finds it (sessionPresent 1), a race of aedes's own that these tests do not cover
 */
async function ended (tb: TestBroker, clientId: string): Promise<void> {
  const end = Date.now() + 3000
  while (await storeHolds(tb, clientId)) {
    if (Date.now() > end) throw new Error(`the store still holds ${clientId}'s session`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** resolves when aedes has done with the client `clientId` (its close steps run) */
function gone (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('clientDisconnect', on); resolve() } }
    tb.broker.aedes.on('clientDisconnect', on)
  })
}

/** resolves at aedes's clientReady for `clientId`: its stored queue has been sent */
function ready (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('clientReady', on); resolve() } }
    tb.broker.aedes.on('clientReady', on)
  })
}

/** a session of `clientId` (subscribed to TOPIC at QoS 2, away) holding PAYLOADS queued at QoS 2 */
async function queuedSession (tb: TestBroker, clientId: string): Promise<void> {
  const first = await connect5(scope, tb.url, 'dashboard', { clientId, clean: true, properties: { sessionExpiryInterval: 300 } })
  expect(await subscribe5(first, TOPIC, { qos: 2 })).toEqual([2])
  const closed = gone(tb, clientId)
  await first.client.endAsync()
  await closed
  const pub = await scope.client('sensor-1')
  for (const p of PAYLOADS) await publish(pub, TOPIC, p, { qos: 2 })
}

/**
 * Holds, in the store's outgoing packet ids of `clientId`: the write of the last queued message as the replay
 * sends it (the replay cannot end meanwhile), and the write of the first PUBREL (it stays unwritten while the
 * test goes on).
 */
function holdReplay (clientId: string): { last: BatchHold, pubrel: BatchHold } {
  const holds = holdLevelBatches(scope)
  const ids = `outgoing-id:${encodeURIComponent(clientId)}:`
  return {
    last: holds.hold((key, value) => key.startsWith(ids) && value.includes(LAST)),
    pubrel: holds.hold((key, value) => key.startsWith(ids) && value.includes('pubrel'))
  }
}

/** resolves once `c` has received `n` packets satisfying `pred` */
async function nWhere (c: RawClient, n: number, pred: (p: Packet) => boolean): Promise<Packet[]> {
  await packetWhere(c, () => c.packets.filter(pred).length >= n)
  return c.packets.filter(pred)
}

describe('an MQTT 5 session resumed with Clean Start 0 and no Session Expiry Interval, a LevelDB write held', () => {
  it('gets its PUBRELs in the order of its QoS 2 PUBLISHes, PUBRECs before and after the replay ended', async () => {
    const tb = await scope.start({ config: { mqtt5: true } })
    await queuedSession(tb, 'ord-raw')
    const { last, pubrel } = holdReplay('ord-raw')
    const replayed = ready(tb, 'ord-raw')

    const c = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('dashboard', 'ord-raw', { protocolVersion: 5, clean: false } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0, sessionPresent: true })
    // the replay is stopped at the last message: every one before it is sent
    await last.held
    const before = await nWhere(c, PAYLOADS.length - 1, (p) => p.cmd === 'publish') as Publish[]
    const pingresps = (n: number): Promise<Packet[]> => nWhere(c, n, (p) => p.cmd === 'pingresp')

    // PUBREC for the first while the replay is under way (the PINGRESP after it: handled); its PUBREL is stored first
    c.send(Buffer.concat([encode({ cmd: 'pubrec', messageId: before[0]?.messageId } as Packet, 5), encode({ cmd: 'pingreq' } as Packet, 5)]))
    await pingresps(1)
    last.release()
    await Promise.all([pubrel.held, replayed])
    const sent = await nWhere(c, PAYLOADS.length, (p) => p.cmd === 'publish') as Publish[]
    expect(sent.map((p) => p.payload.toString())).toEqual(PAYLOADS)

    // the rest once the replay is over, while the first PUBREL's write is still under way
    c.send(Buffer.concat([
      ...sent.slice(1).map((p) => encode({ cmd: 'pubrec', messageId: p.messageId } as Packet, 5)),
      encode({ cmd: 'pingreq' } as Packet, 5)
    ]))
    await pingresps(2)
    pubrel.release()
    const pubrels = await nWhere(c, PAYLOADS.length, (p) => p.cmd === 'pubrel')
    expect(pubrels.map((p) => p.messageId)).toEqual(sent.map((p) => p.messageId))

    // the flows complete; the session ends with the connection
    for (const p of pubrels) c.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet)
    const closed = gone(tb, 'ord-raw')
    c.send({ cmd: 'disconnect' } as Packet)
    await closed
    await ended(tb, 'ord-raw')
    const again = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-raw', clean: false })
    expect(again.connack.sessionPresent).toBe(false)
  })

  it('hands its queued QoS 2 messages to an MQTT.js client in order', async () => {
    const tb = await scope.start({ config: { mqtt5: true } })
    await queuedSession(tb, 'ord-js')
    const { last, pubrel } = holdReplay('ord-js')
    const replayed = ready(tb, 'ord-js')
    let watch!: () => void
    const watching = new Promise<void>((resolve) => { watch = resolve })

    // the PUBRECs the broker has read from this client, in the order of the PUBLISHes (its parser's listener
    // runs after aedes's own, which handles the packet)
    const reads = PAYLOADS.map(() => { let resolve!: () => void; return { read: new Promise<void>((r) => { resolve = r }), resolve } })
    const indexOf = new Map<number, number>()
    // MQTT.js sends a PUBREC once it has a QoS 2 PUBLISH, one PUBLISH after the other; here the first goes
    // once the replay is stopped at the last message, the second once the replay is over, and each next one
    // once the broker has read the one before
    const client = await connect5(scope, tb.url, 'dashboard', {
      clientId: 'ord-js',
      clean: false,
      customHandleAcks: (_topic, _payload, packet, done) => {
        const i = indexOf.size
        indexOf.set(packet.messageId as number, i)
        const before = reads[i - 1]?.read
        const after = before === undefined ? Promise.all([watching, last.held]) : i === 1 ? Promise.all([before, replayed, pubrel.held]) : before
        void after.then(() => { done(0) }) // reason code 0: PUBREC success
      }
    })
    expect(client.connack.sessionPresent).toBe(true)
    parserOf(clientsOf(tb.broker.aedes)['ord-js'] as Client).on('packet', (p) => {
      if (p.cmd === 'pubrec') reads[indexOf.get(p.messageId as number) ?? -1]?.resolve()
    })
    watch()
    // the replay goes on once the first PUBREC is read: its PUBREL is stored first
    await Promise.all([last.held, reads[0]?.read])
    last.release()
    // every PUBREC is read while the first PUBREL's write is still under way
    await reads[PAYLOADS.length - 1]?.read
    pubrel.release()
    await client.count(PAYLOADS.length)
    expect(client.got.map((p) => p.payload.toString())).toEqual(PAYLOADS)
  })
})

describe.each(['level', 'redis'] as const)('an MQTT 5 session resumed with Clean Start 0 and no Session Expiry Interval (%s)', (persistence) => {
  it('acknowledged messages leave its stored queue while it stays connected (limits.maxQueuedMessages does not cut it off)', async () => {
    const tb = await startOn(persistence, { limits: { maxQueuedMessages: 5 } })
    const first = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-q1', clean: true, properties: { sessionExpiryInterval: 300 } })
    expect(await subscribe5(first, TOPIC, { qos: 1 })).toEqual([1])
    const closed = gone(tb, 'ord-q1')
    await first.client.endAsync()
    await closed
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'queued', { qos: 1 })

    const replayed = ready(tb, 'ord-q1')
    const resumed = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-q1', clean: false })
    expect(resumed.connack.sessionPresent).toBe(true)
    await replayed
    // the resumed subscription is a stored one: each message is queued for the session, and taken out at its PUBACK
    const live = Array.from({ length: 8 }, (_, i) => `live-${i + 1}`)
    for (const p of live) {
      await publish(pub, TOPIC, p, { qos: 1 })
      await resumed.next((m) => m.payload.toString() === p)
    }
    expect(resumed.got.map((m) => m.payload.toString())).toEqual(['queued', ...live])
    expect(resumed.client.connected).toBe(true)
    expect(scope.count('delivery:slow-consumer')).toBe(0)
  })

  it('ends with its connection: what it subscribed to, and what it left unacknowledged, is not kept', async () => {
    const tb = await startOn(persistence)
    await queuedSession(tb, 'ord-end')
    const replayed = ready(tb, 'ord-end')
    const c = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('dashboard', 'ord-end', { protocolVersion: 5, clean: false } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0, sessionPresent: true })
    await replayed
    const sent = await nWhere(c, PAYLOADS.length, (p) => p.cmd === 'publish') as Publish[]
    // one QoS 2 flow left at its PUBREL, the others at their PUBLISH; a new subscription, and a message on it
    c.send({ cmd: 'pubrec', messageId: sent[0]?.messageId } as Packet)
    await c.next('pubrel')
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/sensor-2/#', qos: 1 }] } as Packet)
    expect(await c.next('suback')).toMatchObject({ granted: [1] })
    const pub2 = await scope.client('sensor-2')
    await publish(pub2, 'sensors/sensor-2/t', 'during', { qos: 1 })
    await packetWhere(c, (p) => p.cmd === 'publish' && (p as Publish).payload.toString() === 'during')
    const closed = gone(tb, 'ord-end')
    c.send({ cmd: 'disconnect' } as Packet)
    await closed
    await ended(tb, 'ord-end')

    const after = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-end', clean: false, properties: { sessionExpiryInterval: 300 } })
    expect(after.connack.sessionPresent).toBe(false)
    // a marker on a subscription made now: whatever a kept session held would have come before it
    expect(await subscribe5(after, 'sensors/sensor-1/marker', { qos: 1 })).toEqual([1])
    const pub = await scope.client('sensor-1')
    await publish(pub, 'sensors/sensor-1/marker', 'marker', { qos: 1 })
    await after.next((m) => m.payload.toString() === 'marker')
    expect(after.got.map((m) => m.payload.toString())).toEqual(['marker'])
  })

  it('as a consumer group member: gets what the group kept and live messages, while it is connected only', async () => {
    const tb = await startOn(persistence)
    const first = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-grp', clean: true, properties: { sessionExpiryInterval: 300 } })
    expect(await subscribe5(first, '$share/ord/sensors/sensor-1/#', { qos: 1 })).toEqual([1])
    const closed = gone(tb, 'ord-grp')
    await first.client.endAsync()
    await closed
    const pub = await scope.client('sensor-1')
    await publish(pub, TOPIC, 'kept', { qos: 1 })

    const replayed = ready(tb, 'ord-grp')
    const resumed = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-grp', clean: false })
    expect(resumed.connack.sessionPresent).toBe(true)
    await replayed
    // a group joined on this connection too, and by a session that had no group before
    expect(await subscribe5(resumed, '$share/ord2/sensors/sensor-1/#', { qos: 1 })).toEqual([1])
    const plain = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-plain', clean: true, properties: { sessionExpiryInterval: 300 } })
    expect(await subscribe5(plain, 'sensors/sensor-2/#', { qos: 1 })).toEqual([1])
    const plainClosed = gone(tb, 'ord-plain')
    await plain.client.endAsync()
    await plainClosed
    const plainAgain = await connect5(scope, tb.url, 'dashboard', { clientId: 'ord-plain', clean: false })
    expect(plainAgain.connack.sessionPresent).toBe(true)
    expect(await subscribe5(plainAgain, '$share/ord3/sensors/sensor-1/#', { qos: 1 })).toEqual([1])
    await publish(pub, TOPIC, 'live', { qos: 1 })
    await Promise.all([resumed.count(3), plainAgain.count(1)])
    expect(resumed.got.map((m) => m.payload.toString())).toEqual(['kept', 'live', 'live'])
    expect(resumed.client.connected && plainAgain.client.connected).toBe(true)
    const members = async (): Promise<Array<{ group: string, clientId: string, persistent: boolean }>> =>
      (await tb.broker.shared.stats()).flatMap((g) => g.members.map((m) => ({ group: g.group, clientId: m.clientId, persistent: m.persistent })))
    // a member whose session ends with its connection: no group keeps messages for it once it is gone
    expect((await members()).sort((a, b) => a.group.localeCompare(b.group))).toEqual([
      { group: 'ord', clientId: 'ord-grp', persistent: false },
      { group: 'ord2', clientId: 'ord-grp', persistent: false },
      { group: 'ord3', clientId: 'ord-plain', persistent: false }
    ])

    const left = [gone(tb, 'ord-grp'), gone(tb, 'ord-plain')]
    await Promise.all([resumed.client.endAsync(), plainAgain.client.endAsync()])
    await Promise.all(left)
    await publish(pub, TOPIC, 'after', { qos: 1 })
    expect(await members()).toEqual([])
  })
})
