// Shared subscriptions ($share/{group}/{filter}) for MQTT 5 clients through Warden's consumer groups, on each
// store in one process: CONNACK says they are available, SUBACK grants them, a group mixing MQTT 5 and 3.1.1
// members gets each message once with its properties (live and through the group's queue), and what a valid
// account may try with them.
import type { Client, Subscription } from 'aedes'
import type { IPublishPacket } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { mosquittoPub, mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { subscribe } from '../helpers/mqtt.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const subs: Sub[] = []
afterEach(async () => { await Promise.all(subs.splice(0).map((s) => s.stop())) })

const PROPS = {
  userProperties: { site: 'north', unit: 'C' }, contentType: 'application/json', responseTopic: 'sensors/sensor-1/reply', correlationData: Buffer.from('c-7')
}
const expectProps = (p: IPublishPacket): void => {
  expect(p.properties).toMatchObject({ userProperties: { site: 'north', unit: 'C' }, contentType: 'application/json', responseTopic: 'sensors/sensor-1/reply' })
  expect(Buffer.from(p.properties?.correlationData ?? []).toString()).toBe('c-7')
}

/** the broker of the running test, kept for the Redis clean-up (which runs after the scope forgot it) */
let current: TestBroker | undefined

/** a broker on `persistence` (Redis started for it, stopped after the broker) */
async function startOn (persistence: 'memory' | 'level' | 'redis', config: Record<string, unknown> = {}): Promise<TestBroker> {
  let redis: TestRedis | undefined
  if (persistence === 'redis') {
    redis = await startRedis()
    const r = redis
    scope.defer(async () => { await current?.stop(); await r.stop() })
  }
  current = await scope.start({ config: { persistence, ...(redis !== undefined ? { redis: { url: redis.url } } : {}), ...config } })
  return current
}

describe.each(['memory', 'level', 'redis'] as const)('$share for MQTT 5 clients (%s)', (persistence) => {
  it('CONNACK says shared subscriptions are available; a mixed group gets each message once, v5 members with its properties', async () => {
    await startOn(persistence)
    const a = await connect5(scope, scope.tb.url, 'dashboard', { clientId: 'v5-a' })
    expect(a.connack.properties?.sharedSubscriptionAvailable).toBe(true)
    const b = await connect5(scope, scope.tb.url, 'dashboard', { clientId: 'v5-b' })
    expect(await subscribe5(a, '$share/workers/sensors/#', { qos: 1 })).toEqual([1])
    expect(await subscribe5(b, '$share/workers/sensors/#', { qos: 2 })).toEqual([2])
    const v3 = await scope.client('dashboard', { clientId: 'v3-c' })
    expect(await subscribe(v3, '$share/workers/sensors/#', 1)).toEqual([1])
    const pub = await connect5(scope, scope.tb.url, 'sensor-1')
    for (let i = 0; i < 9; i++) await pub.client.publishAsync('sensors/sensor-1/t', `m${i}`, { qos: 1, properties: PROPS })
    // round robin over three connected members on one process: three each
    await Promise.all([a.count(3), b.count(3), v3.waitFor(() => v3.messages.length >= 3)])
    const all = [...a.got.map((p) => p.payload.toString()), ...b.got.map((p) => p.payload.toString()), ...v3.messages.map((m) => m.payload)]
    expect(all.sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'])
    for (const p of [...a.got, ...b.got]) expectProps(p)
    expect(a.got.every((p) => p.qos === 1) && b.got.every((p) => p.qos === 1)).toBe(true)
  })

  it('a persistent v5 member away: the group keeps the messages with their properties and gives them when it is back' +
    (persistence === 'memory' ? '' : ' (across a restart)'), async () => {
    await startOn(persistence)
    const session = { clientId: 'v5-durable', clean: false, properties: { sessionExpiryInterval: 3600 } }
    const m = await connect5(scope, scope.tb.url, 'dashboard', session)
    expect(await subscribe5(m, '$share/g/sensors/#', { qos: 1 })).toEqual([1])
    await m.end()
    const pub = await connect5(scope, scope.tb.url, 'sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', 'kept', { qos: 1, properties: PROPS })
    await pub.end()
    if (persistence !== 'memory') current = await scope.restart()
    const back = await connect5(scope, scope.tb.url, 'dashboard', session)
    expect(back.connack.sessionPresent).toBe(true)
    expectProps(await back.next((p) => p.payload.toString() === 'kept'))
    // and the restored membership still gets live messages
    const pub2 = await connect5(scope, scope.tb.url, 'sensor-1')
    await pub2.client.publishAsync('sensors/sensor-1/t', 'live', { qos: 1, properties: PROPS })
    expectProps(await back.next((p) => p.payload.toString() === 'live'))
  })

  it('mosquitto_sub -V mqttv5 joins a group; its members share the stream', async () => {
    await startOn(persistence)
    const aedes = scope.tb.broker.aedes
    const joined = (id: string): Promise<void> => new Promise((resolve) => {
      const on = (s: Subscription[], c: Client): void => { if (c.id === id && s.length > 0) { aedes.removeListener('subscribe', on); resolve() } }
      aedes.on('subscribe', on)
    })
    for (const id of ['mq-1', 'mq-2']) {
      const j = joined(id)
      const s = mosquittoSub(scope.tb.port, ['-V', 'mqttv5', '-i', id, '-u', 'dashboard', '-P', PASSWORD, '-q', '1', '-v', '-t', '$share/ops/sensors/#'])
      subs.push(s)
      await Promise.race([j, s.exited().then((r) => { throw new Error(`mosquitto_sub exited: ${r.stderr}`) })])
    }
    for (let i = 0; i < 4; i++) {
      const args = ['-V', 'mqttv5', '-u', 'sensor-1', '-P', PASSWORD, '-q', '1', '-t', 'sensors/sensor-1/t', '-m', `n${i}`]
      expect((await mosquittoPub(scope.tb.port, args)).code).toBe(0)
    }
    const [s1, s2] = subs as [Sub, Sub]
    await Promise.all([s1, s2].map((s) => s.waitForLine(() => s.lines.length >= 2)))
    expect([...s1.lines, ...s2.lines].sort()).toEqual(['n0', 'n1', 'n2', 'n3'].map((n) => `sensors/sensor-1/t ${n}`))
  })
})

describe('what a valid account may try with $share (MQTT 5)', () => {
  it('a group on a filter it may not read, or on a reserved one: SUBACK 0x87, audited; nothing delivered', async () => {
    await scope.start({ config: {} })
    const c = await connect5(scope, scope.tb.url, 'dashboard')
    expect(await subscribe5(c, '$share/g/private/#', { qos: 1 })).toEqual([0x87])
    expect(await subscribe5(c, '$share/g/$WARDEN/#', { qos: 1 })).toEqual([0x87])
    expect(scope.count('subscribe:not-granted')).toBe(1)
    expect(scope.count('subscribe:reserved-topic')).toBe(1)
    const owner = await connect5(scope, scope.tb.url, 'sensor-1')
    await owner.client.publishAsync('private/x', 'secret', { qos: 1 })
    const marker = await connect5(scope, scope.tb.url, 'dashboard', { clientId: 'marker' })
    await subscribe5(marker, 'sensors/#', { qos: 1 })
    await owner.client.publishAsync('sensors/sensor-1/t', 'after', { qos: 1 })
    await marker.next((p) => p.payload.toString() === 'after')
    expect(c.got).toEqual([])
  })

  it('a shared subscription\'s Subscription Identifier comes back on what the group gives the member', async () => {
    await scope.start({ config: {} })
    const m = await connect5(scope, scope.tb.url, 'dashboard', { clientId: 'with-id' })
    expect(await subscribe5(m, '$share/g/sensors/#', { qos: 1, properties: { subscriptionIdentifier: 7 } })).toEqual([1])
    const pub = await connect5(scope, scope.tb.url, 'sensor-1')
    await pub.client.publishAsync('sensors/sensor-1/t', 'x', { qos: 1, properties: PROPS })
    const p = await m.next((q) => q.payload.toString() === 'x')
    expect(p.properties?.subscriptionIdentifier).toBe(7)
    expectProps(p)
  })

  it('No Local on a shared subscription is a protocol error: DISCONNECT 0x82 (MQTT-3.8.3-4)', async () => {
    await scope.start({ config: {} })
    const c = await connect5(scope, scope.tb.url, 'dashboard')
    const gone = c.disconnected()
    c.client.subscribe('$share/g/sensors/#', { qos: 1, nl: true })
    await c.closed()
    // the DISCONNECT comes before the close, or not at all
    expect((await Promise.race([gone, Promise.resolve(undefined)]))?.reasonCode).toBe(0x82)
  })
})
