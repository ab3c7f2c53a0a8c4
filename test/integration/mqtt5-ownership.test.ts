// MQTT 5 clients on Warden: ownership refusals answered with reason codes (PUBACK/PUBREC 0x87, SUBACK 0x87,
// CONNACK 0x86…), the connection kept, nothing delivered or retained; mixed 3.1.1/5 fleets both ways.
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { connackCode } from '../helpers/mqtt.js'
import { connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const V5: IClientOptions = { protocolVersion: 5 }

/** publishes and resolves with the acknowledgement's reason code (0 for success) */
function publishCode (
  c: MqttClient, topic: string, payload: string, opts: { qos: 0 | 1 | 2, retain?: boolean, properties?: IPublishPacket['properties'] }
): Promise<number> {
  return new Promise((resolve, reject) => {
    c.publish(topic, payload, opts, (err, packet) => {
      if (err === undefined || err === null) { resolve((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0); return }
      const code = (err as Error & { code?: number }).code
      if (typeof code === 'number') resolve(code); else reject(err)
    })
  })
}

function subscribeCodes (c: MqttClient, filter: string, qos: 0 | 1 | 2 = 1): Promise<number[]> {
  return new Promise((resolve, reject) => {
    c.subscribe(filter, { qos }, (err, granted) => {
      // a refusal: MQTT.js gives the SUBACK with the error
      const suback = (err as Error & { packet?: { granted?: number[] } } | null)?.packet?.granted
      if (suback !== undefined) { resolve(suback); return }
      if (granted !== undefined && err === null) resolve(granted.map((g) => g.qos))
      else reject(err ?? new Error('no SUBACK'))
    })
  })
}

async function retainedTopics (): Promise<string[]> {
  const aedes = scope.tb.broker.aedes as unknown as { persistence: { createRetainedStream: (p: string) => AsyncIterable<{ topic: string }> } }
  const persistence = aedes.persistence
  const topics: string[] = []
  for await (const p of persistence.createRetainedStream('#')) topics.push(p.topic)
  return topics
}

describe('MQTT 5 (mqtt5: true, the default)', () => {
  it('connects; CONNACK advertises Receive Maximum and Maximum Packet Size from the limits', async () => {
    await scope.start({ config: { mqtt5: true, limits: { maxInflightInbound: 32 } } })
    const c = await scope.client('sensor-1', V5)
    const props = (c.client as unknown as { connackPacket?: { properties?: Record<string, unknown> } }).connackPacket?.properties
    expect(props).toMatchObject({ receiveMaximum: 32, maximumPacketSize: 1048576 })
  })

  it('an owner\'s QoS 1 publish is delivered to a v5 and a 3.1.1 subscriber; a 3.1.1 publisher reaches a v5 subscriber', async () => {
    await scope.start({ config: { mqtt5: true } })
    const v5sub = await scope.client('dashboard', V5)
    const v3sub = await scope.client('dashboard', { clientId: 'dash-v3' })
    await v5sub.client.subscribeAsync('sensors/#', { qos: 1 })
    await v3sub.client.subscribeAsync('sensors/#', { qos: 1 })
    const v5pub = await scope.client('sensor-1', V5)
    expect(await publishCode(v5pub.client, 'sensors/sensor-1/t', 'from-v5', { qos: 1 })).toBe(0)
    await v5sub.waitFor((m) => m.payload === 'from-v5')
    await v3sub.waitFor((m) => m.payload === 'from-v5')
    const v3pub = await scope.client('sensor-2')
    await v3pub.client.publishAsync('sensors/sensor-2/t', 'from-v3', { qos: 1 })
    await v5sub.waitFor((m) => m.payload === 'from-v3')
    await v3sub.waitFor((m) => m.payload === 'from-v3')
  })

  it.each([1, 2] as const)('a non-owner\'s QoS %s publish gets 0x87 "not authorized", stays connected; nothing delivered or retained; audited', async (qos) => {
    await scope.start({ config: { mqtt5: true } })
    const watcher = await scope.client('observer', V5)
    await watcher.client.subscribeAsync('sensors/#', { qos: 1 })
    const intruder = await scope.client('sensor-2', V5)
    const reasons: string[] = []
    intruder.client.on('packetreceive', (p) => {
      const rs = (p as { properties?: { reasonString?: string } }).properties?.reasonString
      if (rs !== undefined) reasons.push(rs)
    })
    expect(await publishCode(intruder.client, 'sensors/sensor-1/t', 'forged', { qos, retain: true })).toBe(0x87)
    expect(reasons).toEqual(['not authorized'])
    expect(scope.count('publish:not-owner')).toBe(1)
    // still connected: its own topic goes through on the same connection
    expect(await publishCode(intruder.client, 'sensors/sensor-2/t', 'mine', { qos })).toBe(0)
    await watcher.waitFor((m) => m.payload === 'mine')
    expect(watcher.messages.map((m) => m.payload)).toEqual(['mine'])
    expect(await retainedTopics()).toEqual([])
    expect(intruder.client.connected).toBe(true)
  })

  it('a non-owner\'s QoS 0 publish is dropped and audited; the connection stays', async () => {
    await scope.start({ config: { mqtt5: true } })
    const watcher = await scope.client('observer', V5)
    await watcher.client.subscribeAsync('sensors/#', { qos: 1 })
    const intruder = await scope.client('sensor-2', V5)
    expect(await publishCode(intruder.client, 'sensors/sensor-1/t', 'forged', { qos: 0 })).toBe(0)
    expect(await publishCode(intruder.client, 'sensors/sensor-2/t', 'marker', { qos: 1 })).toBe(0)
    await watcher.waitFor((m) => m.payload === 'marker')
    expect(watcher.messages.map((m) => m.payload)).toEqual(['marker'])
    expect(scope.count('publish:not-owner')).toBe(1)
  })

  it('deniedPublish: disconnect → DISCONNECT 0x87; nothing delivered', async () => {
    await scope.start({ config: { mqtt5: true, deniedPublish: 'disconnect' } })
    const watcher = await scope.client('observer', V5)
    await watcher.client.subscribeAsync('sensors/#', { qos: 1 })
    const intruder = await scope.client('sensor-2', V5)
    const disconnect = new Promise<number | undefined>((resolve) => intruder.client.once('disconnect', (p) => resolve(p.reasonCode)))
    intruder.client.publish('sensors/sensor-1/t', 'forged', { qos: 1 })
    expect(await disconnect).toBe(0x87)
    await intruder.closed()
    expect(scope.count('publish:not-owner')).toBe(1)
    expect(watcher.messages).toEqual([])
  })

  it('a 3.1.1 client keeps the 3.1.1 answers: drop completes its QoS 1 flow (PUBACK 0x00)', async () => {
    await scope.start({ config: { mqtt5: true } })
    const intruder = await scope.client('sensor-2')
    await intruder.client.publishAsync('sensors/sensor-1/t', 'forged', { qos: 1 })
    expect(intruder.client.connected).toBe(true)
    expect(scope.count('publish:not-owner')).toBe(1)
  })

  it('a payload failing the topic\'s schema gets 0x99; its Reason String names no rule', async () => {
    await scope.start({
      config: {
        mqtt5: true,
        topics: [{ filter: 'sensors/sensor-1/#', owners: ['sensor-1'], schema: { type: 'object', required: ['v'], properties: { v: { type: 'number' } } } }]
      }
    })
    const c = await scope.client('sensor-1', V5)
    const reasons: string[] = []
    c.client.on('packetreceive', (p) => {
      const rs = (p as { properties?: { reasonString?: string } }).properties?.reasonString
      if (rs !== undefined) reasons.push(rs)
    })
    expect(await publishCode(c.client, 'sensors/sensor-1/t', '{"v":"x"}', { qos: 1 })).toBe(0x99)
    expect(await publishCode(c.client, 'sensors/sensor-1/t', '{"v":1}', { qos: 2 })).toBe(0)
    expect(reasons).toEqual(['payload format invalid'])
  })

  it('a client that asked for no problem information gets the code without a Reason String', async () => {
    await scope.start({ config: { mqtt5: true } })
    const c = await scope.client('sensor-2', { protocolVersion: 5, properties: { requestProblemInformation: false } })
    const acks: Array<Record<string, unknown>> = []
    c.client.on('packetreceive', (p) => { if (p.cmd === 'puback') acks.push(p as unknown as Record<string, unknown>) })
    expect(await publishCode(c.client, 'sensors/sensor-1/t', 'forged', { qos: 1 })).toBe(0x87)
    expect(acks[0]?.properties).toBeUndefined()
  })

  it('publishRate.onExcess: disconnect → DISCONNECT 0x96', async () => {
    await scope.start({ config: { mqtt5: true, limits: { publishRate: { perSecond: 1, burst: 1, onExcess: 'disconnect' } } } })
    const c = await scope.client('sensor-1', V5)
    const disconnect = new Promise<number | undefined>((resolve) => c.client.once('disconnect', (p) => resolve(p.reasonCode)))
    for (let i = 0; i < 3; i++) c.client.publish('sensors/sensor-1/t', `m${i}`, { qos: 1 })
    expect(await disconnect).toBe(0x96)
    await c.closed()
  })

  it('publishRate.onExcess: drop → PUBACK 0x97 (quota exceeded), connection kept', async () => {
    await scope.start({ config: { mqtt5: true, limits: { publishRate: { perSecond: 1, burst: 1, onExcess: 'drop' } } } })
    const c = await scope.client('sensor-1', V5)
    const codes = await Promise.all([0, 1, 2].map((i) => publishCode(c.client, 'sensors/sensor-1/t', `m${i}`, { qos: 1 })))
    expect(codes[0]).toBe(0)
    expect(codes.slice(1)).toContain(0x97)
    expect(c.client.connected).toBe(true)
  })

  it('a topic longer than limits.maxTopicLength → PUBACK 0x90 (topic name invalid), connection kept', async () => {
    await scope.start({ config: { mqtt5: true, unregisteredTopics: 'allow', limits: { maxTopicLength: 64 } } })
    const c = await scope.client('sensor-1', V5)
    expect(await publishCode(c.client, `open/${'x'.repeat(80)}`, 'long', { qos: 1 })).toBe(0x90)
    expect(await publishCode(c.client, 'open/short', 'ok', { qos: 1 })).toBe(0)
    expect(scope.count('publish:topic-too-long')).toBe(1)
  })

  it('a packet past limits.maxPacketBytes → DISCONNECT 0x95', async () => {
    await scope.start({ config: { mqtt5: true, limits: { maxPacketBytes: 1024, maxOutgoingBytes: 0, maxQueuedBytes: 0 } } })
    // MQTT.js would refuse to send past the advertised Maximum Packet Size: it is told a larger one
    const c = await scope.client('sensor-1', V5)
    ;(c.client as unknown as { options: { properties?: Record<string, unknown> } }).options.properties = {}
    const connack = (c.client as unknown as { connackPacket?: { properties?: Record<string, unknown> } }).connackPacket
    if (connack?.properties !== undefined) delete connack.properties.maximumPacketSize
    const disconnect = new Promise<number | undefined>((resolve) => c.client.once('disconnect', (p) => resolve(p.reasonCode)))
    c.client.publish('sensors/sensor-1/t', Buffer.alloc(4096), { qos: 0 })
    expect(await disconnect).toBe(0x95)
    expect(scope.count('connection:packet-too-large')).toBe(1)
  })

  it('past limits.maxInflightInbound QoS 2 messages awaiting PUBREL → DISCONNECT 0x93 (Receive Maximum exceeded)', async () => {
    const tb = await scope.start({ config: { mqtt5: true, limits: { maxInflightInbound: 3 } } })
    const c = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('sensor-1', 'window', { protocolVersion: 5 } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0, properties: { receiveMaximum: 3 } })
    for (let id = 1; id <= 4; id++) {
      c.send({ cmd: 'publish', topic: 'sensors/sensor-1/t', payload: Buffer.from(`m${id}`), qos: 2, messageId: id, retain: false, dup: false } as Packet)
    }
    expect(await c.next('disconnect')).toMatchObject({ reasonCode: 0x93 })
    // the three within the window may not all be answered before the connection ends: they are stored, and
    // answered PUBREC again when the client retransmits them on its next connection
    expect(c.packets.filter((p) => p.cmd === 'pubrec').length).toBeLessThanOrEqual(3)
  })

  it('a denied subscription gets SUBACK 0x87 (a 3.1.1 client 0x80)', async () => {
    await scope.start({ config: { mqtt5: true } })
    const v5 = await scope.client('dashboard', V5)
    expect(await subscribeCodes(v5.client, 'private/#')).toEqual([0x87])
    const v3 = await scope.client('dashboard', { clientId: 'dash-v3' })
    expect(await subscribeCodes(v3.client, 'private/#')).toEqual([0x80])
  })

  it('CONNACK: bad password 0x86, unknown account 0x86, anonymous refused 0x87, client id of another account 0x85', async () => {
    const tb = await scope.start({ config: { mqtt5: true } })
    expect(await connackCode(tb.url, { protocolVersion: 5, username: 'sensor-1', password: 'wrong' })).toBe(0x86)
    expect(await connackCode(tb.url, { protocolVersion: 5, username: 'nobody', password: PASSWORD })).toBe(0x86)
    expect(await connackCode(tb.url, { protocolVersion: 5 })).toBe(0x87)
    await scope.client('sensor-1', { ...V5, clientId: 'taken', clean: false, properties: { sessionExpiryInterval: 300 } })
    expect(await connackCode(tb.url, { protocolVersion: 5, username: 'sensor-2', password: PASSWORD, clientId: 'taken' })).toBe(0x85)
  })

  it('CONNACK: locked out after failed logins → 0x8A (banned), not 0x88; a 3.1.1 client still gets 3', async () => {
    const tb = await scope.start({ config: { mqtt5: true, limits: { login: { maxFailuresPerUserAddress: 2, delayMs: 0, maxDelayMs: 0 } } } })
    let code = 0
    for (let i = 0; i < 6 && code !== 0x8A; i++) code = await connackCode(tb.url, { protocolVersion: 5, username: 'sensor-1', password: 'wrong' })
    expect(code).toBe(0x8A)
    expect(await connackCode(tb.url, { username: 'sensor-1', password: PASSWORD })).toBe(3)
  })

  it('with mqtt5: false, a v5 CONNECT gets CONNACK 1 (in 3.1.1 framing) as before', async () => {
    const tb = await scope.start({ config: { mqtt5: false } })
    expect(await connackCode(tb.url, { protocolVersion: 5, username: 'sensor-1', password: PASSWORD })).toBe(1)
  })
})
