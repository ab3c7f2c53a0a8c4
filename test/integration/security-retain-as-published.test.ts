// Retain As Published (MQTT 5): a retained QoS 1/2 message published while the subscriber is connected reaches it
// with RETAIN 1 (MQTT-3.3.1-12) and is recorded as any live delivery. The red team's case: aedes 2.0.0-beta.1
// (lib/client.js deliverQoS) took such a delivery for a retained message sent at subscribe time, which it neither
// stores nor tracks, so a device owning a topic disconnected every persistent Retain As Published subscriber of it
// with one retained QoS 2 publish (its PUBREC found nothing), and a retained QoS 1 message came again at each of
// their returns. A retained QoS 2 message sent at subscribe time to a persistent session (MQTT 3.1.1 too) was not
// recorded either: the PUBREC closed the connection, at each SUBSCRIBE. Fixed in apps/broker/src/aedes/retain-as-published.ts.
import type { Client } from 'aedes'
import type { IClientSubscribeOptions, IPublishPacket } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, type TestClient } from '../helpers/mqtt.js'
import { connect5, type V5Client } from '../helpers/mqtt5.js'
import { connectPacket, packetWhere, rawClient } from '../helpers/raw-mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const redis = useSharedRedis()
const scope = useScope()
const TOPIC = 'sensors/sensor-1/load'
const EXPIRY = { sessionExpiryInterval: 300 }

type Persistence = 'memory' | 'level' | 'redis'

async function start (persistence: Persistence): Promise<TestBroker> {
  return await scope.start({ config: { persistence, ...persistence === 'redis' ? { redis: { url: redis.url } } : {} } })
}

async function subscribeRap (c: V5Client, qos: 1 | 2, rap = true): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    c.client.subscribe('sensors/#', { qos, rap } as IClientSubscribeOptions, (err) => { if (err == null) resolve(); else reject(err) })
  })
}

/** resolves when aedes has done with the client `clientId` (its close steps run) */
function gone (tb: TestBroker, clientId: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (c: Client): void => { if (c.id === clientId) { tb.broker.aedes.removeListener('clientDisconnect', on); resolve() } }
    tb.broker.aedes.on('clientDisconnect', on)
  })
}

const seen = (c: V5Client): string[] => c.got.map((m) => `${m.payload.toString()}:${String(m.retain)}`)
const payloadIs = (s: string) => (m: IPublishPacket): boolean => m.payload.toString() === s

describe.each(['memory', 'level', 'redis'] as const)('Retain As Published, persistent session (%s)', (persistence) => {
  it('a retained QoS 2 message is delivered once, with RETAIN 1, and the subscriber stays connected', async () => {
    const tb = await start(persistence)
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-q2', clean: false, properties: EXPIRY })
    await subscribeRap(sub, 2)
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 2, retain: true })
    await publish(pub, TOPIC, 'after', { qos: 2 })
    // rejects when the broker closes the subscriber's connection (unfixed: at its PUBREC for 'kept')
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    expect(sub.client.connected).toBe(true)
  })

  it('a retained QoS 1 message, acknowledged, leaves the queue: it does not come again at the next return', async () => {
    const tb = await start(persistence)
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-q1', clean: false, properties: EXPIRY })
    await subscribeRap(sub, 1)
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 1, retain: true })
    await publish(pub, TOPIC, 'after', { qos: 1 })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    // its PUBACKs are read before its DISCONNECT
    const left = gone(tb, 'rap-q1')
    await sub.client.endAsync()
    await left
    await publish(pub, TOPIC, 'away', { qos: 1 })
    const back = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-q1', clean: false, properties: EXPIRY })
    expect(back.connack.sessionPresent).toBe(true)
    // the queue comes back in order: a 'kept' still queued would come first
    await back.next(payloadIs('away'))
    expect(seen(back)).toEqual(['away:false'])
  })

  it.each([1, 2] as const)('a retained QoS %i message left unacknowledged is sent again at the return: same packet id, DUP 1, RETAIN 1', async (qos) => {
    const tb = await start(persistence)
    const clientId = `rap-resend-${qos}`
    // a raw MQTT 5 client, which acknowledges nothing
    const raw = await rawClient(tb.port, { protocolVersion: 5 })
    scope.defer(() => { raw.destroy() })
    raw.send(connectPacket('dashboard', clientId, { protocolVersion: 5, clean: false, properties: EXPIRY } as Partial<Packet>))
    await raw.next('connack')
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos, rap: true }] } as Packet)
    await raw.next('suback')
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos, retain: true })
    const first = await packetWhere(raw, (p) => p.cmd === 'publish') as IPublishPacket
    expect(first.retain).toBe(true)
    const left = gone(tb, clientId)
    raw.destroy()
    await left

    const back = await connect5(scope, tb.url, 'dashboard', { clientId, clean: false, properties: EXPIRY })
    expect(back.connack.sessionPresent).toBe(true)
    const again = await back.next(payloadIs('kept'))
    expect({ messageId: again.messageId, dup: again.dup, retain: again.retain, qos: again.qos })
      .toEqual({ messageId: first.messageId, dup: true, retain: true, qos })
    // acknowledged now: the flow completes and the connection stays
    await publish(pub, TOPIC, 'after', { qos })
    await back.next(payloadIs('after'))
    expect(seen(back)).toEqual(['kept:true', 'after:false'])
    expect(back.client.connected).toBe(true)
  })

  it('a retained QoS 1 message sent at subscribe time still comes with RETAIN 1, and the flow goes on', async () => {
    const tb = await start(persistence)
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 1, retain: true })
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-sub-1', clean: false, properties: EXPIRY })
    await subscribeRap(sub, 1)
    await sub.next(payloadIs('kept'))
    await publish(pub, TOPIC, 'after', { qos: 1 })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    expect(sub.client.connected).toBe(true)
  })

  // aedes sent it without recording its packet id (it never queued it): the subscriber's PUBREC found nothing and
  // the connection was closed, at each SUBSCRIBE
  it.each([4, 5] as const)('MQTT %i: a retained QoS 2 message sent at subscribe time: the subscriber stays connected after its PUBREC', async (v) => {
    const tb = await start(persistence)
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 2, retain: true })
    const clientId = `rap-sub-2-v${v}`
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId, clean: false, protocolVersion: v, ...v === 5 ? { properties: EXPIRY } : {} })
    await subscribeRap(sub, 2)
    await sub.next(payloadIs('kept'))
    await publish(pub, TOPIC, 'after', { qos: 2 })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    expect(sub.client.connected).toBe(true)
    // and its session goes on: what comes while it is away is queued, and only that
    const left = gone(tb, clientId)
    await sub.client.endAsync()
    await left
    await publish(pub, TOPIC, 'away', { qos: 2 })
    const back = await connect5(scope, tb.url, 'dashboard', { clientId, clean: false, protocolVersion: v, ...v === 5 ? { properties: EXPIRY } : {} })
    await back.next(payloadIs('away'))
    expect(seen(back)).toEqual(['away:false'])
  })

  it('without Retain As Published the live retained message comes with RETAIN 0', async () => {
    const tb = await start(persistence)
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-off', clean: false, properties: EXPIRY })
    await subscribeRap(sub, 2, false)
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 2, retain: true })
    await publish(pub, TOPIC, 'after', { qos: 1, retain: true })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:false', 'after:false'])
  })
})

describe.each(['memory', 'level'] as const)('Retain As Published, clean session (%s)', (persistence) => {
  it.each([1, 2] as const)('a retained QoS %i message comes with RETAIN 1 and the subscriber stays connected', async (qos) => {
    const tb = await start(persistence)
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: `rap-clean-${qos}`, clean: true })
    await subscribeRap(sub, qos)
    const pub: TestClient = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos, retain: true })
    await publish(pub, TOPIC, 'after', { qos })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    expect(sub.client.connected).toBe(true)
  })
})

// MQTT 5 Clean Start 0 with no Session Expiry Interval: aedes sees the client as clean when its CONNECT is admitted
// (beta.1 sets `clean` from the expiry alone) and as persistent from its CONNACK on (aedes/resume-queue.ts), so it
// stores and tracks its QoS 1/2 deliveries: the Retain As Published wrapper, installed once the CONNECT is
// admitted for persistent sessions only, must be on it too. Without it, one retained QoS 2 publish closed every
// such Retain As Published subscriber at its PUBREC, and a retained QoS 2 message closed it at each SUBSCRIBE.
describe('Retain As Published, MQTT 5 Clean Start 0 and no Session Expiry (persistent while connected)', () => {
  const v5Resume = { clean: false }
  it('a live retained QoS 2 message: delivered with RETAIN 1, the subscriber stays connected after its PUBREC', async () => {
    const tb = await start('memory')
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-se0-live', ...v5Resume })
    await subscribeRap(sub, 2)
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 2, retain: true })
    await publish(pub, TOPIC, 'after', { qos: 2 })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    expect(sub.client.connected).toBe(true)
  })

  it('a retained QoS 2 message sent at subscribe time: the subscriber stays connected after its PUBREC', async () => {
    const tb = await start('memory')
    const pub = await scope.client('sensor-1', {}, tb)
    await publish(pub, TOPIC, 'kept', { qos: 2, retain: true })
    const sub = await connect5(scope, tb.url, 'dashboard', { clientId: 'rap-se0-sub', ...v5Resume })
    await subscribeRap(sub, 2)
    await sub.next(payloadIs('kept'))
    await publish(pub, TOPIC, 'after', { qos: 2 })
    await sub.next(payloadIs('after'))
    expect(seen(sub)).toEqual(['kept:true', 'after:false'])
    expect(sub.client.connected).toBe(true)
  })
})
