// MQTT 5 properties a device may not put on what it hands the broker: a Subscription Identifier on a PUBLISH
// (MQTT-3.3.4-6), a Topic Alias or Subscription Identifier among its Will Properties (MQTT 5 3.1.3.2), a
// wildcard in its will's Response Topic (MQTT-3.3.2-14). aedes 2.0.0-beta.1 forwarded them: a will carrying
// a Topic Alias closed every MQTT 5 subscriber (MQTT.js: alias above its maximum) and, queued for a persistent
// session, closed it again at each reconnect; a publisher's identifier reached subscribers that set none.
// Each is refused as it is parsed: the connection closed (a CONNECT without CONNACK), nothing delivered or
// stored, audited `connection:malformed-packet`; the subscribers and honest devices go on.
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { publish } from '../helpers/mqtt.js'
import { mosquittoSub } from '../helpers/mosquitto.js'
import { PASSWORD, startBroker } from '../helpers/broker.js'
import { startRedis } from '../helpers/redis.js'
import { connect5, subscribe5, type V5Client } from '../helpers/mqtt5.js'
import { connectPacket, rawClient, rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const PERSISTENT = { clientId: 'reader', clean: false, properties: { sessionExpiryInterval: 300 } }

/** a persistent MQTT 5 reader of sensors/# that went away: what is published now is queued for it */
async function awayReader (): Promise<void> {
  const r = await connect5(scope, scope.tb.url, 'dashboard', PERSISTENT)
  await subscribe5(r, 'sensors/#', { qos: 1 })
  await r.end()
}

/** the reader back, given the marker an honest owner publishes: everything queued before it arrived, in order */
async function readerGetsMarker (): Promise<V5Client> {
  const r = await connect5(scope, scope.tb.url, 'dashboard', PERSISTENT)
  const honest = await scope.client('sensor-2')
  await publish(honest, 'sensors/sensor-2/marker', 'marker', { qos: 1 })
  await r.next((p) => p.topic === 'sensors/sensor-2/marker')
  expect(r.client.connected).toBe(true)
  return r
}

async function raw5 (): Promise<Awaited<ReturnType<typeof rawClient>>> {
  return scope.track(await rawClient(scope.tb.port, { protocolVersion: 5 }))
}

describe.each(['memory', 'level'] as const)('%s store', (persistence) => {
  it.each([
    ['a Topic Alias', { topicAlias: 1 }],
    ['a Subscription Identifier', { subscriptionIdentifier: 9 }],
    ['a wildcard Response Topic', { responseTopic: 'sensors/+/reply' }]
  ])('a will with %s: the CONNECT is closed unanswered and audited; a persistent reader is not closed by it', async (_what, properties) => {
    await scope.start({ config: { persistence } })
    await awayReader()
    const live = await connect5(scope, scope.tb.url, 'observer', { clientId: 'live' })
    await subscribe5(live, 'sensors/#', { qos: 1 })

    const device = await raw5()
    device.send(connectPacket('sensor-1', 'device-1', {
      protocolVersion: 5,
      will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('gone'), qos: 1, retain: false, properties }
    } as Partial<Packet>))
    expect(await Promise.race([device.closed().then(() => 'closed'), device.next('connack').then(() => 'CONNACK')])).toBe('closed')
    expect(device.packets.map((p) => p.cmd)).toEqual([])
    expect(scope.events.filter((e) => e.reason === 'malformed-packet').map((e) => `${e.kind}:${e.reason}`)).toEqual(['connection:malformed-packet'])

    const back = await readerGetsMarker()
    expect(back.got.map((p) => p.topic)).toEqual(['sensors/sensor-2/marker'])
    await live.next((p) => p.topic === 'sensors/sensor-2/marker')
    expect(live.got.map((p) => p.topic)).toEqual(['sensors/sensor-2/marker'])
    expect(live.client.connected).toBe(true)
  })

  it.each([0, 1, 2] as const)('a QoS %i PUBLISH with a Subscription Identifier closes its connection: delivered, stored, acked nowhere', async (qos) => {
    await scope.start({ config: { persistence } })
    await awayReader()
    const live = await connect5(scope, scope.tb.url, 'observer', { clientId: 'live' })
    await subscribe5(live, 'sensors/#', { qos: 1 })

    const device = await raw5()
    device.send(connectPacket('sensor-1', 'device-1', { protocolVersion: 5 } as Partial<Packet>))
    await device.next('connack')
    device.send({
      cmd: 'publish', topic: 'sensors/sensor-1/x', qos, retain: true, dup: false, payload: Buffer.from('forged'),
      ...(qos > 0 ? { messageId: 1 } : {}), properties: { subscriptionIdentifier: 5 }
    } as Packet)
    const delivered = live.next((p) => p.topic === 'sensors/sensor-1/x').then(() => 'delivered', () => 'reader closed')
    const acked = device.next(qos === 2 ? 'pubrec' : 'puback').then(() => 'acknowledged', () => 'closed')
    expect(await Promise.race([device.closed().then(() => 'closed'), delivered, acked])).toBe('closed')
    expect(device.packets.map((p) => p.cmd)).toEqual(['connack'])
    expect(scope.count('connection:malformed-packet')).toBe(1)

    const back = await readerGetsMarker()
    expect(back.got.map((p) => p.topic)).toEqual(['sensors/sensor-2/marker'])
    expect(live.got.map((p) => p.topic)).toEqual(['sensors/sensor-2/marker'])
    // not retained either
    const fresh = await connect5(scope, scope.tb.url, 'dashboard', { clientId: 'fresh' })
    await subscribe5(fresh, ['sensors/sensor-1/x', 'sensors/sensor-2/marker'], { qos: 1 })
    expect(fresh.got.map((p) => p.topic)).toEqual([])
  })

  it('an owner\'s will and PUBLISH with every property allowed to them go through, once each', async () => {
    await scope.start({ config: { persistence } })
    const live = await connect5(scope, scope.tb.url, 'observer', { clientId: 'live' })
    await subscribe5(live, 'sensors/#', { qos: 1 })
    const props = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'sensors/sensor-1/reply',
      correlationData: Buffer.from('c'),
      userProperties: { a: 'b' }
    }
    const device = await raw5()
    device.send(connectPacket('sensor-1', 'device-1', {
      protocolVersion: 5,
      will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { ...props, willDelayInterval: 0 } }
    } as Partial<Packet>))
    await device.next('connack')
    device.send({
      cmd: 'publish', topic: 'sensors/sensor-1/x', qos: 1, messageId: 1, retain: false, dup: false, payload: Buffer.from('ok'), properties: props
    } as Packet)
    await device.next('puback')
    device.destroy()
    const will = await live.next((p) => p.topic === 'sensors/sensor-1/status')
    const msg = live.got.find((p) => p.topic === 'sensors/sensor-1/x')
    for (const p of [will, msg]) {
      expect(p?.properties).toMatchObject({ contentType: 'text/plain', responseTopic: 'sensors/sensor-1/reply', userProperties: { a: 'b' } })
    }
    expect(will.properties?.topicAlias).toBeUndefined()
    expect(scope.count('connection:malformed-packet')).toBe(0)
  })
})

describe('a PUBLISH property that is not one (Reason String, Session Expiry Interval, ...)', () => {
  it('closes the publisher, not the MQTT 5 mosquitto_sub readers of its topic', async () => {
    const tb = await scope.start({ config: { persistence: 'level' } })
    const subscribed = new Promise<void>((resolve) => {
      const on = (_s: unknown, c: { id: string }): void => { if (c.id === 'mosq') { tb.broker.aedes.removeListener('subscribe', on); resolve() } }
      tb.broker.aedes.on('subscribe', on)
    })
    const sub = mosquittoSub(scope.tb.port, ['-V', 'mqttv5', '-u', 'observer', '-P', PASSWORD, '-i', 'mosq', '-t', 'sensors/#', '-q', '1', '-v'])
    scope.defer(() => sub.stop())
    await Promise.race([subscribed, sub.exited().then((r) => { throw new Error(`mosquitto_sub exited: ${r.stderr}`) })])
    const honest = await scope.client('sensor-2')
    await publish(honest, 'sensors/sensor-2/ready', 'ready', { qos: 1 })
    await sub.waitForLine((l) => l === 'sensors/sensor-2/ready ready')
    for (const [i, properties] of [{ reasonString: 'x' }, { sessionExpiryInterval: 5 }, { receiveMaximum: 1 }].entries()) {
      const device = await raw5()
      device.send(connectPacket('sensor-1', `device-${i}`, { protocolVersion: 5 } as Partial<Packet>))
      await device.next('connack')
      const bad = Buffer.from('bad')
      device.send({ cmd: 'publish', topic: 'sensors/sensor-1/x', qos: 1, messageId: 1, retain: false, dup: false, payload: bad, properties } as Packet)
      expect(await Promise.race([device.closed().then(() => 'closed'), device.next('puback').then(() => 'acknowledged', () => 'closed')])).toBe('closed')
    }
    expect(scope.count('connection:malformed-packet')).toBe(3)
    await publish(honest, 'sensors/sensor-2/after', 'after', { qos: 1 })
    await sub.waitForLine((l) => l === 'sensors/sensor-2/after after')
    expect(sub.lines).toEqual(['sensors/sensor-2/ready ready', 'sensors/sensor-2/after after'])
  })
})

describe('a User Property named __proto__ (legal MQTT; msgpack cannot carry it)', () => {
  /** as mqtt-packet parses them: '__proto__' an own key (a literal { __proto__: … } would set the prototype) */
  const protoProps = (): Record<string, unknown> => ({ userProperties: JSON.parse('{"__proto__":"x","k":"v"}') as unknown })

  it('two processes on Redis: refused on the publisher\'s process, where it was acknowledged and never reached the other\'s subscribers', async () => {
    const redis = await startRedis()
    scope.defer(() => redis.stop())
    const a = await startBroker({ config: { brokerId: 'wa', persistence: 'redis', redis: { url: redis.url } } })
    scope.defer(() => a.close())
    const b = await startBroker({ config: { brokerId: 'wb', persistence: 'redis', redis: { url: redis.url } } })
    scope.defer(() => b.close())
    const onB = await connect5(scope, b.url, 'observer', { clientId: 'on-b' })
    await subscribe5(onB, 'sensors/#', { qos: 1 })
    const device = scope.track(await rawClient(a.port, { protocolVersion: 5 }))
    device.send(connectPacket('sensor-1', 'device-1', { protocolVersion: 5 } as Partial<Packet>))
    await device.next('connack')
    device.send({
      cmd: 'publish', topic: 'sensors/sensor-1/x', qos: 1, messageId: 1, retain: false, dup: false, payload: Buffer.from('p'), properties: protoProps()
    } as Packet)
    expect(await Promise.race([device.closed().then(() => 'closed'), device.next('puback').then(() => 'acknowledged', () => 'closed')])).toBe('closed')
    expect(a.broker.audit.counts.get('connection:malformed-packet')).toBe(1)
    const honest = await connect5(scope, a.url, 'sensor-2', { clientId: 'honest' })
    await honest.client.publishAsync('sensors/sensor-2/m', 'marker', { qos: 1, properties: { userProperties: { constructor: 'c' } } })
    const m = await onB.next((p) => p.topic === 'sensors/sensor-2/m')
    expect(m.properties?.userProperties).toEqual({ constructor: 'c' })
    expect(onB.got.map((p) => p.topic)).toEqual(['sensors/sensor-2/m'])
  })

  it('level: a will holding one is refused at CONNECT', async () => {
    await scope.start({ config: { persistence: 'level' } })
    const device = await raw5()
    device.send(connectPacket('sensor-1', 'device-1', {
      protocolVersion: 5, will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('gone'), qos: 1, retain: true, properties: protoProps() }
    } as Partial<Packet>))
    expect(await Promise.race([device.closed().then(() => 'closed'), device.next('connack').then(() => 'CONNACK')])).toBe('closed')
    expect(scope.count('connection:malformed-packet')).toBe(1)
  })
})

describe('MQTT 3.1.1', () => {
  it('a 3.1.1 device with a will is unaffected (no properties)', async () => {
    await scope.start({ config: { persistence: 'memory' } })
    const live = await connect5(scope, scope.tb.url, 'observer', { clientId: 'live' })
    await subscribe5(live, 'sensors/#', { qos: 1 })
    const will = { topic: 'sensors/sensor-1/status', payload: Buffer.from('gone'), qos: 1, retain: false }
    const d = scope.track(await rawSession(scope.tb.port, 'sensor-1', 'device-3', { will } as Partial<Packet>))
    d.destroy()
    await live.next((p) => p.topic === 'sensors/sensor-1/status')
  })
})
