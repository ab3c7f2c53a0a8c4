// What an MQTT 5 subscriber asks of what the broker sends it, on memory and level stores (and Redis where the
// store is involved): its Receive Maximum (no more unacknowledged QoS 1/2 messages at once, the rest wait, a
// message that expired while waiting is not sent), its Maximum Packet Size (a larger message is not sent, the
// connection stays), topic aliases, every matching Subscription Identifier, and Server Keep Alive. 3.1.1
// subscribers are served as before.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
type Publish = Packet & IPublishPacket

/** a raw client (MQTT 5 unless `version` says 4) that acknowledges nothing unless told to */
async function rawSub (username: string, clientId: string, extra: Record<string, unknown> = {}, version: 4 | 5 = 5): Promise<RawClient> {
  const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
  const ready = new Promise<void>((resolve) => {
    const on = (client: { id: string }): void => {
      if (client.id === clientId) { scope.tb.broker.aedes.removeListener('clientReady', on); resolve() }
    }
    scope.tb.broker.aedes.on('clientReady', on)
  })
  c.send(connectPacket(username, clientId, { protocolVersion: version, ...extra } as Partial<Packet>))
  const ack = await c.next('connack') as { reasonCode?: number, returnCode?: number }
  expect(ack.reasonCode ?? ack.returnCode).toBe(0)
  await ready
  return c
}

const publishes = (c: RawClient): Publish[] => c.packets.filter((p): p is Publish => p.cmd === 'publish')

/** resolves once the raw client holds `n` PUBLISH packets (event-driven: re-checked on each read) */
function nPublishes (c: RawClient, n: number): Promise<Publish[]> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (publishes(c).length >= n) { c.socket.removeListener('data', later); resolve(publishes(c)); return }
      if (c.isClosed) reject(new Error(`closed with ${publishes(c).length} of ${n} PUBLISHes`))
    }
    const later = (): void => { setImmediate(check) }
    c.socket.on('data', later)
    c.socket.once('close', later)
    check()
  })
}

async function subscribeRaw (c: RawClient, filter: string, qos: 0 | 1 | 2, properties?: Record<string, unknown>): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }], ...(properties !== undefined ? { properties } : {}) } as Packet)
  await c.next('suback')
}

const ack = (c: RawClient, p: Publish): void => { c.send({ cmd: 'puback', messageId: p.messageId } as Packet) }

async function v5 (username: string, opts: IClientOptions = {}): Promise<{ client: MqttClient, got: IPublishPacket[] }> {
  const client = mqtt.connect(scope.tb.url, { username, password: PASSWORD, protocolVersion: 5, reconnectPeriod: 0, ...opts })
  scope.defer(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  const got: IPublishPacket[] = []
  client.on('packetreceive', (p) => { if (p.cmd === 'publish') got.push(p) })
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
  return { client, got }
}

/** a publisher that waits for each PUBACK, so the messages enter the broker in order */
async function publishAll (
  username: string, topic: string, payloads: string[], opts: { qos: 0 | 1, properties?: IPublishPacket['properties'] } = { qos: 1 }
): Promise<void> {
  const p = await v5(username)
  for (const payload of payloads) await p.client.publishAsync(topic, payload, opts)
}

const text = (ps: Publish[]): string[] => ps.map((p) => p.payload.toString())

/** a broker on that store; on Redis, a private redis-server stopped after the broker */
async function startOn (persistence: 'memory' | 'level' | 'redis'): Promise<void> {
  if (persistence !== 'redis') { await scope.start({ config: { persistence } }); return }
  const redis: TestRedis = await startRedis()
  // eslint-disable-next-line prefer-const -- the deferred close, registered first, must find it unset until then
  let tb: TestBroker | undefined
  scope.defer(async () => { await tb?.stop(); await redis.stop() })
  tb = await scope.start({ config: { persistence, redis: { url: redis.url } } })
}

describe.each(['memory', 'level'] as const)('Receive Maximum of an MQTT 5 subscriber (%s)', (persistence) => {
  it('no more than that many QoS 1 messages unacknowledged; the others wait, in order, and go as acknowledgements come', async () => {
    await scope.start({ config: { persistence } })
    const sub = await rawSub('dashboard', 'rm-2', { properties: { receiveMaximum: 2 } })
    await subscribeRaw(sub, 'sensors/#', 1)
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['m1', 'm2', 'm3', 'm4', 'm5'])
    // a QoS 0 message is not held back: once it is here, anything not held would be here too
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['marker'], { qos: 0 })
    await sub.next('publish')
    expect(text(await nPublishes(sub, 3))).toEqual(['m1', 'm2', 'marker'])
    ack(sub, publishes(sub)[0] as Publish)
    expect(text(await nPublishes(sub, 4))).toEqual(['m1', 'm2', 'marker', 'm3'])
    for (const p of publishes(sub).filter((p) => p.qos === 1)) ack(sub, p)
    expect(text(await nPublishes(sub, 6))).toEqual(['m1', 'm2', 'marker', 'm3', 'm4', 'm5'])
  })

  it('a message whose Message Expiry Interval passed while it waited is not sent; the next one is sent with the time it has left', async () => {
    await scope.start({ config: { persistence } })
    const sub = await rawSub('dashboard', 'rm-1', { properties: { receiveMaximum: 1 } })
    await subscribeRaw(sub, 'sensors/#', 1)
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['first'])
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['short-lived'], { qos: 1, properties: { messageExpiryInterval: 1 } })
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['long-lived'], { qos: 1, properties: { messageExpiryInterval: 60 } })
    await nPublishes(sub, 1)
    // the expiry is the event: wait past it
    await new Promise((resolve) => setTimeout(resolve, 1100))
    ack(sub, publishes(sub)[0] as Publish)
    const got = await nPublishes(sub, 2)
    expect(text(got)).toEqual(['first', 'long-lived'])
    expect(got[1]?.properties?.messageExpiryInterval).toBeLessThanOrEqual(59)
    // the expired one was behaved as acknowledged: the next acknowledgement frees the window for nothing more
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['marker'], { qos: 0 })
    expect(text(await nPublishes(sub, 3))).toEqual(['first', 'long-lived', 'marker'])
  })

  it('a huge Receive Maximum (65535, the default) holds nothing back; a 3.1.1 subscriber is served as before', async () => {
    await scope.start({ config: { persistence } })
    const big = await rawSub('dashboard', 'rm-max', { properties: { receiveMaximum: 65535 } })
    const v3 = await rawSub('dashboard', 'v3-sub', {}, 4)
    await subscribeRaw(big, 'sensors/#', 1)
    await subscribeRaw(v3, 'sensors/#', 1)
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['a', 'b', 'c', 'd'])
    expect(text(await nPublishes(big, 4))).toEqual(['a', 'b', 'c', 'd'])
    expect(text(await nPublishes(v3, 4))).toEqual(['a', 'b', 'c', 'd'])
  })

  it('messages held back count as bytes waiting: a subscriber that never acknowledges is cut off past limits.maxOutgoingBytes, audited', async () => {
    await scope.start({ config: { persistence, limits: { maxPacketBytes: 65536, maxOutgoingBytes: 131072 } } })
    const stalled = await rawSub('dashboard', 'never-acks', { properties: { receiveMaximum: 1 } })
    await subscribeRaw(stalled, 'sensors/#', 1)
    const honest = await rawSub('dashboard', 'acks', { properties: { receiveMaximum: 1 } })
    await subscribeRaw(honest, 'sensors/#', 1)
    honest.socket.on('data', () => { for (const p of publishes(honest)) ack(honest, p) })
    const big = 'x'.repeat(30000)
    await publishAll('sensor-1', 'sensors/sensor-1/t', Array.from({ length: 6 }, (_, i) => `${i}${big}`))
    await stalled.closed()
    expect(scope.count('delivery:slow-consumer')).toBe(1)
    expect((await nPublishes(honest, 6)).length).toBe(6)
  })
})

describe.each(['memory', 'level', 'redis'] as const)('Receive Maximum of a persistent session (%s)', (persistence) => {
  it('messages held back when it went away are sent when it comes back, within its new window', async () => {
    await startOn(persistence)
    const session = { clean: false, properties: { receiveMaximum: 1, sessionExpiryInterval: 300 } }
    const first = await rawSub('dashboard', 'rm-session', session)
    await subscribeRaw(first, 'sensors/#', 1)
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['q1', 'q2', 'q3'])
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['marker'], { qos: 0 })
    expect(text(await nPublishes(first, 2))).toEqual(['q1', 'marker'])
    first.destroy()
    await first.closed()
    const back = await rawSub('dashboard', 'rm-session', { clean: false, properties: { receiveMaximum: 2, sessionExpiryInterval: 300 } })
    // what came before this listener (the queue is sent before clientReady) is acknowledged now
    const ackAll = (): void => { for (const p of publishes(back)) ack(back, p) }
    back.socket.on('data', ackAll)
    ackAll()
    expect(text(await nPublishes(back, 3))).toEqual(['q1', 'q2', 'q3'])
  })

  it('a queued message whose Message Expiry Interval passed while the session was away is not sent; the other one is, with the time it has left',
    async () => {
      await startOn(persistence)
      const session = { clean: false, properties: { sessionExpiryInterval: 300 } }
      const first = await rawSub('dashboard', 'exp-session', session)
      await subscribeRaw(first, 'sensors/#', 1)
      first.destroy()
      await first.closed()
      await publishAll('sensor-1', 'sensors/sensor-1/t', ['short'], { qos: 1, properties: { messageExpiryInterval: 1 } })
      await publishAll('sensor-1', 'sensors/sensor-1/t', ['long'], { qos: 1, properties: { messageExpiryInterval: 60 } })
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const back = await rawSub('dashboard', 'exp-session', session)
      await publishAll('sensor-1', 'sensors/sensor-1/t', ['marker'], { qos: 0 })
      const got = await nPublishes(back, 2)
      expect(text(got)).toEqual(['long', 'marker'])
      expect(got[0]?.properties?.messageExpiryInterval).toBeLessThanOrEqual(59)
    })
})

describe.each(['memory', 'level'] as const)('Maximum Packet Size of an MQTT 5 subscriber (%s)', (persistence) => {
  it('a message larger than it is not sent to that client (audited); the connection stays, the others get it', async () => {
    await scope.start({ config: { persistence } })
    const small = await v5('dashboard', { clientId: 'small', properties: { maximumPacketSize: 100 } })
    const plain = await v5('dashboard', { clientId: 'plain' })
    await small.client.subscribeAsync('sensors/#', { qos: 1 })
    await plain.client.subscribeAsync('sensors/#', { qos: 1 })
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['short-1', 'y'.repeat(200), 'short-2'])
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['marker'], { qos: 0 })
    for (const [c, n] of [[small, 3], [plain, 4]] as const) {
      await new Promise<void>((resolve) => { const on = (): void => { if (c.got.length === n) resolve(); else c.client.once('message', on) }; on() })
    }
    expect(small.got.map((p) => p.payload.toString())).toEqual(['short-1', 'short-2', 'marker'])
    expect(plain.got.map((p) => p.payload.length)).toEqual([7, 200, 7, 6])
    expect(small.client.connected).toBe(true)
    expect(scope.count('delivery:packet-too-large')).toBe(1)
  })

  it('a persistent session does not get the too-large message later either (it was behaved as sent)', async () => {
    await scope.start({ config: { persistence } })
    const opts = { clientId: 'small-p', clean: false, properties: { maximumPacketSize: 100, sessionExpiryInterval: 300 } }
    const first = await v5('dashboard', opts)
    await first.client.subscribeAsync('sensors/#', { qos: 1 })
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['z'.repeat(200)])
    await first.client.endAsync()
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['after'])
    const back = await v5('dashboard', { ...opts, properties: { sessionExpiryInterval: 300 } })
    await new Promise<void>((resolve) => { const on = (): void => { if (back.got.length >= 1) resolve(); else back.client.once('message', on) }; on() })
    expect(back.got.map((p) => p.payload.toString())).toEqual(['after'])
  })

  it('mosquitto_sub -V mqttv5 with a Maximum Packet Size gets what fits and stays connected', async () => {
    await scope.start({ config: { persistence } })
    const aedes = scope.tb.broker.aedes
    const subscribed = new Promise<void>((resolve) => { aedes.once('subscribe', () => resolve()) })
    const sub: Sub = mosquittoSub(scope.tb.port, [
      '-V', 'mqttv5', '-i', 'mosq-small', '-u', 'dashboard', '-P', PASSWORD, '-t', 'sensors/#', '-q', '1', '-D', 'connect', 'maximum-packet-size', '100'
    ])
    scope.defer(() => sub.stop())
    await subscribed
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['fits', 'w'.repeat(300), 'fits-too'])
    await sub.waitForLine((l) => l === 'fits-too')
    expect(sub.lines).toEqual(['fits', 'fits-too'])
  })

  it('a Maximum Packet Size of 0 is a protocol error: the CONNECT is refused', async () => {
    await scope.start({ config: { persistence } })
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('dashboard', 'zero-max', { protocolVersion: 5, properties: { maximumPacketSize: 0 } } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0x82 })
    await c.closed()
  })
})

describe('topic aliases on what the broker sends', () => {
  it('a client that accepts them gets the topic once, then its alias; at most limits.outboundTopicAliases of them', async () => {
    await scope.start({ config: { limits: { outboundTopicAliases: 2 } } })
    const sub = await v5('dashboard', { properties: { topicAliasMaximum: 10 } })
    const got: Array<{ topic: string, alias?: number | undefined }> = []
    sub.client.on('packetreceive', (p) => { if (p.cmd === 'publish') got.push({ topic: p.topic, alias: p.properties?.topicAlias }) })
    const msgs: string[] = []
    sub.client.on('message', (topic) => msgs.push(topic))
    await sub.client.subscribeAsync('sensors/#', { qos: 1 })
    const p = await v5('sensor-1')
    for (const t of ['a', 'a', 'b', 'b', 'c', 'c']) await p.client.publishAsync(`sensors/sensor-1/${t}`, t, { qos: 1 })
    await new Promise<void>((resolve) => { const on = (): void => { if (msgs.length === 6) resolve(); else sub.client.once('message', on) }; on() })
    expect(got).toEqual([
      { topic: 'sensors/sensor-1/a', alias: 1 }, { topic: '', alias: 1 },
      { topic: 'sensors/sensor-1/b', alias: 2 }, { topic: '', alias: 2 },
      { topic: 'sensors/sensor-1/c', alias: undefined }, { topic: 'sensors/sensor-1/c', alias: undefined }
    ])
    // MQTT.js resolves them: the application sees every topic
    expect(msgs).toEqual(['a', 'a', 'b', 'b', 'c', 'c'].map((t) => `sensors/sensor-1/${t}`))
  })

  it('none to a client that did not ask, nor with limits.outboundTopicAliases: 0', async () => {
    await scope.start({ config: { limits: { outboundTopicAliases: 0 } } })
    const asked = await v5('dashboard', { clientId: 'asked', properties: { topicAliasMaximum: 10 } })
    const silent = await v5('dashboard', { clientId: 'silent' })
    await asked.client.subscribeAsync('sensors/#', { qos: 1 })
    await silent.client.subscribeAsync('sensors/#', { qos: 1 })
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['1', '2'])
    for (const c of [asked, silent]) {
      await new Promise<void>((resolve) => { const on = (): void => { if (c.got.length === 2) resolve(); else c.client.once('message', on) }; on() })
      expect(c.got.map((p) => [p.topic, p.properties?.topicAlias])).toEqual([['sensors/sensor-1/t', undefined], ['sensors/sensor-1/t', undefined]])
    }
  })
})

describe('Subscription Identifiers', () => {
  it('a message matching several subscriptions carries all their identifiers; a retained one sent on subscribe only the new one\'s', async () => {
    await scope.start()
    await publishAll('sensor-1', 'sensors/sensor-1/r', ['kept'])
    const p = await v5('sensor-1', { clientId: 'ret' })
    await p.client.publishAsync('sensors/sensor-1/r', 'retained', { qos: 1, retain: true })
    const sub = await v5('dashboard')
    await sub.client.subscribeAsync('sensors/#', { qos: 1, properties: { subscriptionIdentifier: 2 } })
    await sub.client.subscribeAsync('sensors/sensor-1/+', { qos: 1, properties: { subscriptionIdentifier: 3 } })
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['live'])
    await new Promise<void>((resolve) => {
      const on = (): void => { if (sub.got.some((m) => m.payload.toString() === 'live')) resolve(); else sub.client.once('message', on) }
      on()
    })
    const retained = sub.got.filter((m) => m.payload.toString() === 'retained').map((m) => m.properties?.subscriptionIdentifier)
    expect(retained).toEqual([2, 3])
    expect(sub.got.find((m) => m.payload.toString() === 'live')?.properties?.subscriptionIdentifier).toEqual([2, 3])
  })
})

describe.each(['memory', 'level'] as const)('Subscription Identifiers of a resumed session (%s)', (persistence) => {
  it('a message matching several restored subscriptions carries all their identifiers', async () => {
    await scope.start({ config: { persistence } })
    const opts = { clientId: 'si-p', clean: false, properties: { sessionExpiryInterval: 300 } }
    const first = await v5('dashboard', opts)
    await first.client.subscribeAsync('sensors/sensor-1/+', { qos: 1 })
    await first.client.subscribeAsync('sensors/#', { qos: 1, properties: { subscriptionIdentifier: 7 } })
    await first.client.subscribeAsync('sensors/+/t', { qos: 1, properties: { subscriptionIdentifier: 5 } })
    await first.client.endAsync()
    const back = await v5('dashboard', opts)
    await publishAll('sensor-1', 'sensors/sensor-1/t', ['after'])
    await new Promise<void>((resolve) => { const on = (): void => { if (back.got.length >= 1) resolve(); else back.client.once('message', on) }; on() })
    expect(back.got.map((m) => m.properties?.subscriptionIdentifier)).toEqual([[5, 7]])
  })
})

describe('Server Keep Alive (limits.maxKeepAliveSeconds)', () => {
  const connack = async (version: 4 | 5, keepalive: number): Promise<Record<string, unknown>> => {
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
    c.send(connectPacket('dashboard', `ka-${version}-${keepalive}`, { protocolVersion: version, keepalive } as Partial<Packet>))
    return await c.next('connack') as unknown as Record<string, unknown>
  }

  it('an MQTT 5 client asking for more, or for none, is told the maximum; 3.1.1 clients keep theirs', async () => {
    await scope.start({ config: { limits: { maxKeepAliveSeconds: 60 } } })
    expect(await connack(5, 120)).toMatchObject({ reasonCode: 0, properties: { serverKeepAlive: 60 } })
    expect(await connack(5, 0)).toMatchObject({ reasonCode: 0, properties: { serverKeepAlive: 60 } })
    expect(((await connack(5, 30)).properties as Record<string, unknown>).serverKeepAlive).toBeUndefined()
    expect(await connack(4, 120)).toMatchObject({ returnCode: 0 })
    expect(await connack(4, 0)).toMatchObject({ returnCode: 0 })
  })

  it('the client is held to it: silent past 1.5 times the Server Keep Alive, it is disconnected', async () => {
    await scope.start({ config: { limits: { maxKeepAliveSeconds: 1 } } })
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('dashboard', 'ka-silent', { protocolVersion: 5, keepalive: 0 } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ properties: { serverKeepAlive: 1 } })
    await c.closed()
  })

  it('by default (0) no Server Keep Alive is sent', async () => {
    await scope.start()
    expect(((await connack(5, 0)).properties as Record<string, unknown> | undefined)?.serverKeepAlive).toBeUndefined()
  })
})

describe.each(['memory', 'level'] as const)('a refused filter of a persistent MQTT 5 session (%s)', (persistence) => {
  it('is not kept in the store beside the granted ones (SUBACK 0x87, not 0x80)', async () => {
    await scope.start({ config: { persistence } })
    const c = await v5('dashboard', { clientId: 'denied-p', clean: false, properties: { sessionExpiryInterval: 300 } })
    const aedes = scope.tb.broker.aedes
    const removed = new Promise<void>((resolve) => {
      const store = (aedes as unknown as { persistence: { removeSubscriptions: (...a: unknown[]) => Promise<unknown> } }).persistence
      const original = store.removeSubscriptions.bind(store)
      store.removeSubscriptions = async (...a: unknown[]) => { const r = await original(...a); resolve(); return r }
    })
    const granted = await c.client.subscribeAsync({ 'sensors/#': { qos: 1 }, 'private/#': { qos: 1 } })
      .catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted)
    expect(JSON.stringify(granted)).toContain('135')
    await removed
    const stored = await (aedes as unknown as { persistence: { subscriptionsByClient: (c: { id: string }) => Promise<Array<{ topic: string }>> } })
      .persistence.subscriptionsByClient({ id: 'denied-p' })
    expect(stored.map((s) => s.topic)).toEqual(['sensors/#'])
  })
})
