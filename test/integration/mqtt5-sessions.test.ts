// MQTT 5 sessions on Warden: properties kept through a persistent session's offline queue (memory and level
// stores, and across a restart on level), a Home-Assistant-like session (will, birth, retained discovery,
// abrupt disconnect, reconnect and resubscribe), and what a valid account might try with v5 features.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { fastHash, PASSWORD, type TestBroker } from '../helpers/broker.js'
import { connackCode } from '../helpers/mqtt.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

/** an MQTT.js v5 client that records whole PUBLISH packets from the moment it connects */
async function v5Client (
  username: string, opts: IClientOptions = {}
): Promise<{ client: MqttClient, got: IPublishPacket[], next: (pred: (p: IPublishPacket) => boolean) => Promise<IPublishPacket> }> {
  const client = mqtt.connect(scope.tb.url, { username, password: PASSWORD, protocolVersion: 5, reconnectPeriod: 0, ...opts })
  scope.defer(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  const got: IPublishPacket[] = []
  const waiters: Array<{ pred: (p: IPublishPacket) => boolean, resolve: (p: IPublishPacket) => void }> = []
  client.on('message', (_t, _p, packet) => {
    got.push(packet)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]
      if (w !== undefined && w.pred(packet)) { waiters.splice(i, 1); w.resolve(packet) }
    }
  })
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
  return {
    client,
    got,
    next: (pred) => {
      const found = got.find(pred)
      return found !== undefined ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ pred, resolve }))
    }
  }
}

const PROPS = {
  userProperties: { site: 'north', unit: 'C' }, contentType: 'application/json', payloadFormatIndicator: true,
  responseTopic: 'sensors/sensor-1/reply', correlationData: Buffer.from('c-1')
}

describe.each(['memory', 'level', 'redis'] as const)('offline queue of a persistent v5 session (%s)', (persistence) => {
  it('keeps user properties, content type, payload format, response topic and correlation data', async () => {
    let redis: TestRedis | undefined
    let tb: TestBroker | undefined
    if (persistence === 'redis') {
      redis = await startRedis()
      const r = redis
      // the broker goes before its Redis (deferred closes run before the scope's brokers close)
      scope.defer(async () => { await tb?.stop(); await r.stop() })
    }
    tb = await scope.start({ config: { mqtt5: true, persistence, ...(redis !== undefined ? { redis: { url: redis.url } } : {}) } })
    const session = { clientId: 'v5-dash', clean: false, properties: { sessionExpiryInterval: 3600 } }
    const first = await v5Client('dashboard', session)
    await first.client.subscribeAsync('sensors/#', { qos: 1 })
    await first.client.endAsync()
    const pub = await v5Client('sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', '{"v":1}', { qos: 1, properties: PROPS })
    // the stores that outlive the process are read back by a new one
    if (persistence !== 'memory') tb = await scope.restart()
    const back = await v5Client('dashboard', session)
    const p = await back.next((m) => m.topic === 'sensors/sensor-1/t')
    expect(p.payload.toString()).toBe('{"v":1}')
    expect(p.properties).toMatchObject({
      userProperties: { site: 'north', unit: 'C' }, contentType: 'application/json', payloadFormatIndicator: true, responseTopic: 'sensors/sensor-1/reply'
    })
    expect(Buffer.from(p.properties?.correlationData ?? []).toString()).toBe('c-1')
  })
})

describe('a Home-Assistant-like session', () => {
  async function haConfig (): Promise<Record<string, unknown>> {
    const passwordHash = await fastHash(PASSWORD)
    return {
      mqtt5: true,
      roles: { ha: { subscribe: ['homeassistant/#'] }, observer: { subscribe: ['#'] }, producer: { subscribe: [] } },
      users: [
        { username: 'hass', passwordHash, roles: ['ha'] },
        { username: 'sensor-1', passwordHash, roles: ['producer'] },
        { username: 'observer', passwordHash, roles: ['observer'] }
      ],
      topics: [
        { filter: 'homeassistant/status', owners: ['hass'] },
        { filter: 'homeassistant/+/{username}/#', owners: ['{username}'] }
      ]
    }
  }
  const HA = { clientId: 'home-assistant', will: { topic: 'homeassistant/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true } }

  it('will, birth, retained discovery; abrupt disconnect publishes the will; reconnect and resubscribe gets discovery back', async () => {
    await scope.start({ config: await haConfig() })
    const device = await scope.client('sensor-1') // a 3.1.1 device
    await device.client.publishAsync('homeassistant/sensor/sensor-1/config', '{"name":"t1"}', { qos: 1, retain: true })
    const watcher = await v5Client('observer')
    await watcher.client.subscribeAsync('homeassistant/status', { qos: 1 })

    const ha = await v5Client('hass', HA)
    await ha.client.publishAsync('homeassistant/status', 'online', { qos: 1, retain: true })
    await ha.client.subscribeAsync('homeassistant/#', { qos: 1 })
    const discovery = await ha.next((p) => p.topic === 'homeassistant/sensor/sensor-1/config')
    expect(discovery.retain).toBe(true)
    await watcher.next((p) => p.payload.toString() === 'online')

    // abrupt: the socket goes, no DISCONNECT
    ha.client.stream.destroy()
    const will = await watcher.next((p) => p.payload.toString() === 'offline')
    expect(will.topic).toBe('homeassistant/status')

    const again = await v5Client('hass', HA)
    await again.client.subscribeAsync('homeassistant/#', { qos: 1 })
    const back = await again.next((p) => p.topic === 'homeassistant/sensor/sensor-1/config')
    expect(back.retain).toBe(true)
    expect(back.payload.toString()).toBe('{"name":"t1"}')
    const status = await again.next((p) => p.topic === 'homeassistant/status')
    expect(status.payload.toString()).toBe('offline')
    await again.client.publishAsync('homeassistant/status', 'online', { qos: 1, retain: true })
    await watcher.next((p) => p.payload.toString() === 'online' && watcher.got.indexOf(p) > watcher.got.findIndex((q) => q.payload.toString() === 'offline'))
  })

  it('a device cannot plant a will, nor a delayed will, on Home Assistant\'s status topic (CONNACK 0x87)', async () => {
    const tb = await scope.start({ config: await haConfig() })
    const will = { topic: 'homeassistant/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true }
    expect(await connackCode(tb.url, { protocolVersion: 5, username: 'sensor-1', password: PASSWORD, will })).toBe(0x87)
    expect(await connackCode(tb.url, {
      protocolVersion: 5, username: 'sensor-1', password: PASSWORD, will: { ...will, properties: { willDelayInterval: 1 } }
    })).toBe(0x87)
    expect(scope.count('will:not-owner')).toBe(2)
  })
})

describe('wills with a Will Delay Interval', () => {
  const will = (delay: number): IClientOptions['will'] => ({
    topic: 'sensors/sensor-1/status', payload: Buffer.from('gone'), qos: 1, retain: false,
    properties: { willDelayInterval: delay, userProperties: { why: 'lost' } }
  })

  it('is published after the delay, with its properties and without the Will Delay Interval', async () => {
    await scope.start({ config: { mqtt5: true } })
    const watcher = await v5Client('observer')
    await watcher.client.subscribeAsync('sensors/sensor-1/status', { qos: 1 })
    const dev = await v5Client('sensor-1', { clientId: 'dev-1', will: will(1), properties: { sessionExpiryInterval: 60 } })
    const t0 = Date.now()
    dev.client.stream.destroy()
    const p = await watcher.next((m) => m.payload.toString() === 'gone')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    expect(p.properties?.userProperties).toEqual({ why: 'lost' })
    expect((p.properties as Record<string, unknown> | undefined)?.willDelayInterval).toBeUndefined()
  })

  it('is not published when the client comes back within the delay', async () => {
    await scope.start({ config: { mqtt5: true } })
    const watcher = await v5Client('observer')
    await watcher.client.subscribeAsync('sensors/sensor-1/status', { qos: 1 })
    const opts = { clientId: 'dev-2', clean: false, will: will(2), properties: { sessionExpiryInterval: 60 } }
    const dev = await v5Client('sensor-1', opts)
    dev.client.stream.destroy()
    await new Promise((resolve) => setTimeout(resolve, 300))
    await v5Client('sensor-1', { ...opts, will: undefined })
    await new Promise((resolve) => setTimeout(resolve, 2500))
    expect(watcher.got.map((m) => m.payload.toString())).toEqual([])
  })
})

describe('what a valid account might try with MQTT 5', () => {
  /** a raw v5 session: MQTT.js resolves topic aliases itself, a client need not */
  async function rawV5 (username: string): Promise<RawClient> {
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: 5 }))
    // aedes's own DISCONNECTs (0x94 here) are sent only once its connect steps are done: before, it closes
    const ready = new Promise<void>((resolve) => {
      const on = (client: { id: string }): void => {
        if (client.id === `raw-${username}`) { scope.tb.broker.aedes.removeListener('clientReady', on); resolve() }
      }
      scope.tb.broker.aedes.on('clientReady', on)
    })
    c.send(connectPacket(username, `raw-${username}`, { protocolVersion: 5 } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0 })
    await ready
    return c
  }
  const aliased = (topic: string, alias: number, payload: string, messageId: number): Packet =>
    ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, retain: false, dup: false, properties: { topicAlias: alias } }) as Packet
  const pubackCode = async (c: RawClient, messageId: number): Promise<number | undefined> => {
    for (;;) {
      const found = c.packets.find((p) => p.cmd === 'puback' && p.messageId === messageId)
      if (found !== undefined) return (found as { reasonCode?: number }).reasonCode ?? 0
      if (c.isClosed) return undefined
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  it('a topic alias is refused by default (DISCONNECT 0x94)', async () => {
    await scope.start({ config: { mqtt5: true } })
    const c = await rawV5('sensor-1')
    c.send(aliased('sensors/sensor-1/t', 1, 'x', 1))
    expect(await c.next('disconnect')).toMatchObject({ reasonCode: 0x94 })
  })

  it('limits.topicAliasMaximum: a topic alias is not a way around ownership, the aliased topic is judged on every publish', async () => {
    await scope.start({ config: { mqtt5: true, limits: { topicAliasMaximum: 4 } } })
    const watcher = await v5Client('observer')
    await watcher.client.subscribeAsync('sensors/#', { qos: 1 })
    const c = await rawV5('sensor-2')
    c.send(aliased('sensors/sensor-2/t', 1, 'own', 1))
    c.send(aliased('', 1, 'own-by-alias', 2))
    c.send(aliased('sensors/sensor-1/t', 2, 'forged', 3))
    c.send(aliased('', 2, 'forged-by-alias', 4))
    // an alias re-pointed at a topic it may not publish to
    c.send(aliased('sensors/sensor-1/t', 1, 'forged-again', 5))
    c.send(aliased('', 1, 'forged-by-old-alias', 6))
    expect(await Promise.all([1, 2, 3, 4, 5, 6].map((id) => pubackCode(c, id)))).toEqual([0, 0, 0x87, 0x87, 0x87, 0x87])
    await watcher.next((p) => p.payload.toString() === 'own-by-alias')
    expect(watcher.got.map((p) => p.payload.toString())).toEqual(['own', 'own-by-alias'])
    expect(scope.count('publish:not-owner')).toBe(4)
  })

  it('a session resumed with Clean Start 0 and no expiry keeps its client id bound like a persistent one ' +
    '(a crash leaves its old state in the store: another account must not claim it)', async () => {
    const tb = await scope.start({ config: { mqtt5: true } })
    const first = await scope.client('dashboard', { clientId: 'dash-id', clean: false })
    await first.client.subscribeAsync('sensors/#', { qos: 1 })
    await first.end()
    const resumed = await v5Client('dashboard', { clientId: 'dash-id', clean: false })
    expect((await tb.broker.clientIds.get('dash-id'))?.clean).toBe(false)
    await resumed.client.endAsync()
    const fresh = await v5Client('dashboard', { clientId: 'fresh-id', clean: true })
    expect((await tb.broker.clientIds.get('fresh-id'))?.clean).toBe(true)
    await fresh.client.endAsync()
    const lasting = await v5Client('dashboard', { clientId: 'lasting-id', clean: true, properties: { sessionExpiryInterval: 300 } })
    expect((await tb.broker.clientIds.get('lasting-id'))?.clean).toBe(false)
    await lasting.client.endAsync()
    // and the id stays the account's: another account is refused it
    expect(await connackCode(tb.url, { protocolVersion: 5, username: 'sensor-2', password: PASSWORD, clientId: 'dash-id', clean: false })).toBe(0x85)
  })

  it('Clean Start 0 with no Session Expiry: sessionPresent 1 when the stored session holds only queued messages, and they arrive', async () => {
    await scope.start({ config: { mqtt5: true } })
    const first = await scope.client('dashboard', { clientId: 'queue-only', clean: false })
    await first.client.subscribeAsync('sensors/#', { qos: 1 })
    await first.end()
    const pub = await scope.client('sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', 'queued', { qos: 1 })
    // the subscriptions go (an operator's clean-up, say); the queue stays
    const { persistence } = scope.tb.broker.aedes as unknown as { persistence: { removeSubscriptions: (c: { id: string }, t: string[]) => Promise<void> } }
    await persistence.removeSubscriptions({ id: 'queue-only' }, ['sensors/#'])
    const back = await v5Client('dashboard', { clientId: 'queue-only', clean: false })
    expect((back.client as unknown as { connackPacket?: { sessionPresent?: boolean } }).connackPacket?.sessionPresent).toBe(true)
    await back.next((p) => p.payload.toString() === 'queued')
  })

  it('a huge Session Expiry Interval is clamped to sessions.expiryMs (and told in CONNACK)', async () => {
    await scope.start({ config: { mqtt5: true, sessions: { expiryMs: 60000 } } })
    const c = await v5Client('sensor-1', { clean: false, clientId: 'long', properties: { sessionExpiryInterval: 0xFFFFFFFE } })
    const props = (c.client as unknown as { connackPacket?: { properties?: Record<string, unknown> } }).connackPacket?.properties
    expect(props?.sessionExpiryInterval).toBe(60)
  })

  it('$share/ for a v5 client is granted, as CONNACK advertises (Warden\'s consumer groups; mqtt5-shared.test.ts has the rest)', async () => {
    await scope.start({ config: { mqtt5: true } })
    const c = await v5Client('dashboard')
    const props = (c.client as unknown as { connackPacket?: { properties?: Record<string, unknown> } }).connackPacket?.properties
    expect(props?.sharedSubscriptionAvailable).toBe(true)
    const granted = await new Promise<number[]>((resolve) => c.client.subscribe('$share/g/sensors/#', { qos: 1 }, (err, _g, packet) => {
      resolve((packet as { granted?: number[] } | undefined)?.granted ?? (err as Error & { packet?: { granted?: number[] } } | null)?.packet?.granted ?? [])
    }))
    expect(granted).toEqual([1])
  })
})
