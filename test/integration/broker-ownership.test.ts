// Topic ownership end to end with MQTT.js: owners publish, intruders go nowhere, every refusal is audited.
import { beforeEach, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let tb: TestBroker
const client = scope.client

describe('deniedPublish: drop', () => {
  beforeEach(async () => { tb = await scope.start() })

  it('delivers an owner\'s publish to readers', async () => {
    const reader = await client('dashboard')
    expect(await subscribe(reader, 'sensors/#', 1)).toEqual([1])
    const owner = await client('sensor-1')
    await publish(owner, 'sensors/sensor-1/temp', '21.5', { qos: 1 })
    const m = await reader.waitFor((m) => m.topic === 'sensors/sensor-1/temp')
    expect(m.payload).toBe('21.5')
  })

  it.each([0, 1, 2] as const)('a non-owner\'s QoS %i publish reaches nobody, is not retained, and is audited', async (qos) => {
    const observer = await client('observer')
    await subscribe(observer, ['#', '$SYS/warden/audit/#'], 2)
    const reader = await client('dashboard')
    await subscribe(reader, 'sensors/#', 2)
    const intruder = await client('sensor-2')
    // the intruder's flow completes: PUBACK/PUBCOMP arrive and it stays connected
    await publish(intruder, 'sensors/sensor-1/temp', 'forged', { qos, retain: true })
    const audit = await observer.waitFor((m) => m.topic === '$SYS/warden/audit/publish', 'audit event')
    expect(JSON.parse(audit.payload)).toMatchObject({
      kind: 'publish', reason: 'not-owner', username: 'sensor-2', topic: 'sensors/sensor-1/temp', filter: 'sensors/sensor-1/#', qos
    })
    // a marker from the owner, published after the refusal was decided, is the first thing readers get
    const owner = await client('sensor-1')
    await publish(owner, 'sensors/sensor-1/temp', 'marker', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'marker')
    await observer.waitFor((m) => m.payload === 'marker')
    expect(reader.messages.map((m) => m.payload)).toEqual(['marker'])
    expect(observer.messages.filter((m) => !m.topic.startsWith('$SYS')).map((m) => m.payload)).toEqual(['marker'])
    expect(intruder.client.connected).toBe(true)
    // nothing was retained: a new subscriber gets no retained message on that topic
    const late = await client('observer')
    await publish(owner, 'sensors/sensor-1/other', 'marker-2', { qos: 1, retain: true })
    await subscribe(late, 'sensors/#', 1)
    await late.waitFor((m) => m.payload === 'marker-2')
    expect(late.messages.map((m) => m.payload)).toEqual(['marker-2'])
    expect(tb.broker.audit.counts.get('publish:not-owner')).toBe(1)
  })

  it('refuses publishes to unregistered topics and to $SYS', async () => {
    const observer = await client('observer')
    await subscribe(observer, ['#', '$SYS/warden/audit/#'], 1)
    const dev = await client('sensor-1')
    await publish(dev, 'nowhere/x', 'a', { qos: 1 })
    await publish(dev, '$SYS/fake/heartbeat', 'b', { qos: 1 })
    await publish(dev, 'sensors/sensor-1/ok', 'marker', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'marker')
    const events = await Promise.all([
      observer.waitFor((m) => m.topic.startsWith('$SYS/warden/audit') && m.payload.includes('nowhere/x')),
      observer.waitFor((m) => m.topic.startsWith('$SYS/warden/audit') && m.payload.includes('$SYS/fake'))
    ])
    expect(events.map((e) => JSON.parse(e.payload).reason)).toEqual(['unregistered', 'reserved-topic'])
    expect(observer.messages.filter((m) => !m.topic.startsWith('$SYS')).map((m) => m.payload)).toEqual(['marker'])
  })

  it('lets several owners share a topic and templates give each device its own', async () => {
    const reader = await client('observer')
    await subscribe(reader, ['sensors/shared/#', 'devices/#'], 1)
    const s1 = await client('sensor-1')
    const s2 = await client('sensor-2')
    await publish(s1, 'sensors/shared/a', 'from-1', { qos: 1 })
    await publish(s2, 'sensors/shared/a', 'from-2', { qos: 1 })
    await publish(s1, 'devices/sensor-1/telemetry', 't1', { qos: 1 })
    await publish(s1, 'devices/sensor-2/telemetry', 'forged', { qos: 1 })
    await publish(s2, 'devices/sensor-2/telemetry', 't2', { qos: 1 })
    await reader.waitFor((m) => m.payload === 't2')
    await reader.waitFor((m) => m.payload === 'from-2')
    expect(reader.messages.map((m) => m.payload).sort()).toEqual(['from-1', 'from-2', 't1', 't2'])
    expect(tb.broker.audit.counts.get('publish:not-owner')).toBe(1)
  })

  it('refuses a will on a topic the client does not own (CONNACK 5) and accepts an owned one', async () => {
    const { connackCode } = await import('../helpers/mqtt.js')
    const { PASSWORD } = await import('../helpers/broker.js')
    const base = { username: 'sensor-1', password: PASSWORD }
    expect(await connackCode(tb.url, { ...base, will: { topic: 'sensors/sensor-2/status', payload: Buffer.from('x'), qos: 1, retain: true } })).toBe(5)
    expect(tb.broker.audit.counts.get('will:not-owner')).toBe(1)
    // an owned will is published when the device vanishes
    const observer = await client('observer')
    await subscribe(observer, 'sensors/#', 1)
    const dev = await client('sensor-1', { will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1, retain: false } })
    dev.client.stream.destroy()
    await observer.waitFor((m) => m.topic === 'sensors/sensor-1/status' && m.payload === 'offline')
  })
})

describe('deniedPublish: disconnect', () => {
  beforeEach(async () => { tb = await scope.start({ config: { deniedPublish: 'disconnect' } }) })

  it.each([0, 1, 2] as const)('closes the connection of a QoS %i intruder and delivers nothing', async (qos) => {
    const reader = await client('observer')
    await subscribe(reader, 'sensors/#', 1)
    const intruder = await client('sensor-2')
    intruder.client.publish('sensors/sensor-1/temp', 'forged', { qos })
    await intruder.closed()
    const owner = await client('sensor-1')
    await publish(owner, 'sensors/sensor-1/temp', 'marker', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'marker')
    expect(reader.messages.map((m) => m.payload)).toEqual(['marker'])
    expect(tb.broker.audit.counts.get('publish:not-owner')).toBe(1)
  })
})
