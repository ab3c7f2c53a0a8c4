// What aedes 2.0.0-beta.1 lacks against 1.2.0 (three advisories) and two beta bugs: each is shown on the bare
// beta, then closed by Warden's adapter (apps/broker/src/aedes/). The MQTT 5 cases run on a bare beta broker
// with the adapter's patch installed, to show each patch alone (Warden itself: mqtt5-*.test.ts).
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { afterEach, describe, expect, it } from 'vitest'
import { keepQueueOnResume } from '../../apps/broker/src/aedes/resume-queue.js'
import { storeOf } from '../../apps/broker/src/aedes/store.js'
import { stripWillDelay } from '../../apps/broker/src/aedes/will-properties.js'
import { startBareBroker, type BareBroker } from '../helpers/bare-aedes.js'
import { connectPacket, encode, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const bares: BareBroker[] = []
const v5s: MqttClient[] = []
afterEach(async () => {
  for (const c of v5s.splice(0)) c.end(true)
  for (const b of bares.splice(0)) await b.close()
})

const publish = (topic: string, payload: string, qos: 0 | 1 | 2, messageId?: number): Packet =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, ...(messageId !== undefined ? { messageId } : {}) }) as Packet

async function raw (port: number, username: string, clientId: string, extra = {}): Promise<RawClient> {
  const c = scope.track(await rawClient(port))
  c.send(connectPacket(username, clientId, extra))
  expect(await c.next('connack')).toMatchObject({ returnCode: 0 })
  return c
}

/** runs `script` (an ES module) with node from apps/broker, where aedes resolves; resolves with its exit code and stderr */
function runNode (script: string): Promise<{ code: number | null, stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '../../apps/broker') })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('exit', (code) => resolve({ code, stderr }))
  })
}

describe('GHSA-52qw-whmv-87c5: names of Object.prototype members from the wire', () => {
  it('bare beta.1: a CONNECT with the client id "constructor" ends the process', async () => {
    const { code, stderr } = await runNode(`
      import { Aedes } from 'aedes'
      import { createServer, connect } from 'node:net'
      import mqttPacket from 'mqtt-packet'
      const broker = await Aedes.createBroker()
      const server = createServer(broker.handle).listen(0, '127.0.0.1', () => {
        const s = connect(server.address().port, '127.0.0.1')
        s.on('error', () => {})
        s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'constructor' }))
        setTimeout(() => process.exit(0), 1000)
      })`)
    expect(code).not.toBe(0)
    expect(stderr).toMatch(/disconnect is not a function/)
  })

  it('Warden: client ids and filters named "constructor", "__proto__", "toString" are ordinary names', async () => {
    const b = await scope.start({ config: { persistence: 'memory' } })
    for (const id of ['constructor', '__proto__', 'toString']) {
      await raw(b.port, 'sensor-1', id)
      await raw(b.port, 'sensor-1', id) // takes the first one over
    }
    const obs = await raw(b.port, 'observer', 'obs')
    obs.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'constructor', qos: 1 }, { topic: 'toString', qos: 0 }] } as Packet)
    expect(await obs.next('suback')).toMatchObject({ granted: [1, 0] })
    obs.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['hasOwnProperty'] } as Packet)
    await obs.next('unsuback')
    const check = await scope.client('dashboard')
    expect(check.client.connected).toBe(true)
    expect(obs.isClosed).toBe(false)
  })
})

describe('GHSA-p8r9-qf8w-p73r: QoS 2 state of clean sessions', () => {
  it.each(['memory', 'level'] as const)('%s: a new clean session reusing a message id of an abandoned one gets its message delivered', async (persistence) => {
    const b = await scope.start({ config: { persistence } })
    const sub = await scope.client('dashboard')
    await new Promise<void>((resolve, reject) => sub.client.subscribe('sensors/sensor-1/q2', { qos: 2 }, (err) => err ? reject(err) : resolve()))
    const first = await raw(b.port, 'sensor-1', 'p8r9')
    first.send(publish('sensors/sensor-1/q2', 'first', 2, 42))
    await first.next('pubrec') // no PUBREL: the id stays stored awaiting it
    await sub.waitFor((m) => m.payload === 'first')
    first.destroy()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const second = await raw(b.port, 'sensor-1', 'p8r9')
    second.send(publish('sensors/sensor-1/q2', 'second', 2, 42))
    await second.next('pubrec')
    await sub.waitFor((m) => m.payload === 'second', 'the second session\'s message')
  })
})

describe('GHSA-5jvp-3p2v-5qgf: inbound QoS 2 awaiting PUBREL', () => {
  it('Warden: past limits.maxInflightInbound a 3.1.1 client is disconnected; retransmissions and released ids do not count', async () => {
    const b = await scope.start({ config: { persistence: 'memory', limits: { maxInflightInbound: 3 } } })
    const c = await raw(b.port, 'sensor-1', 'window')
    for (const id of [1, 2, 3]) { c.send(publish('sensors/sensor-1/w', `m${id}`, 2, id)); await c.next('pubrec'); c.packets.length = 0 }
    c.send({ ...publish('sensors/sensor-1/w', 'm1', 2, 1), dup: true } as Packet) // a retransmission: same slot
    await c.next('pubrec'); c.packets.length = 0
    c.send({ cmd: 'pubrel', messageId: 2 } as Packet)
    await c.next('pubcomp')
    c.send(publish('sensors/sensor-1/w', 'm4', 2, 4)) // takes the slot of 2
    await c.next('pubrec'); c.packets.length = 0
    expect(c.isClosed).toBe(false)
    c.send(publish('sensors/sensor-1/w', 'm5', 2, 5)) // the fourth awaiting PUBREL
    await c.closed()
    expect(c.packets.filter((p) => p.cmd === 'pubrec')).toEqual([])
  })
})

describe('beta.1 regression of a 1.2.0 fix: a PUBREL repeated in one read', () => {
  it.each(['memory', 'level'] as const)('%s: Warden answers both and keeps running (the second delete of the id rejects)', async (persistence) => {
    const b = await scope.start({ config: { persistence } })
    const c = await raw(b.port, 'sensor-1', 'twice')
    c.send(publish('sensors/sensor-1/r', 'm', 2, 9))
    await c.next('pubrec')
    c.send(Buffer.concat([0, 1].map(() => encode({ cmd: 'pubrel', messageId: 9 } as Packet))))
    await c.next('pubcomp')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await scope.client('dashboard')).client.connected).toBe(true)
  })
})

/** an MQTT.js v5 client on a bare broker */
async function v5 (port: number, opts: IClientOptions): Promise<{ c: MqttClient, sessionPresent: boolean }> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, ...opts })
  v5s.push(c)
  const ack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => { c.once('connect', resolve); c.once('error', reject) })
  return { c, sessionPresent: ack.sessionPresent }
}
const end = (c: MqttClient): Promise<void> => new Promise((resolve) => c.end(false, {}, () => resolve()))

describe.each([
  { name: 'bare beta.1', fixed: false },
  { name: 'with keepQueueOnResume', fixed: true }
])('beta bug: MQTT 5 resume with Clean Start 0 and no Session Expiry ($name)', ({ fixed }) => {
  it(fixed ? 'gets sessionPresent 1 and the queued message' : 'gets sessionPresent 1 but loses the queued message', async () => {
    const b = await startBareBroker()
    bares.push(b)
    if (fixed) keepQueueOnResume(b.broker, storeOf((b.broker as unknown as { persistence: unknown }).persistence))
    const first = await v5(b.port, { clientId: 'resumer', clean: true, properties: { sessionExpiryInterval: 300 } })
    await new Promise<void>((resolve, reject) => first.c.subscribe('r/t', { qos: 1 }, (err) => err ? reject(err) : resolve()))
    await end(first.c)
    await new Promise<void>((resolve) => b.broker.publish(
      { cmd: 'publish', topic: 'r/t', payload: Buffer.from('queued'), qos: 1, retain: false, dup: false },
      () => resolve()
    ))
    const again = await v5(b.port, { clientId: 'resumer', clean: false })
    expect(again.sessionPresent).toBe(true)
    const got: string[] = []
    again.c.on('message', (_t, p) => got.push(p.toString()))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(got).toEqual(fixed ? ['queued'] : [])
  })
})

describe.each([
  { name: 'bare beta.1', fixed: false },
  { name: 'with stripWillDelay', fixed: true }
])('beta bug #1098: Will Delay Interval in the published will ($name)', ({ fixed }) => {
  it(fixed ? 'publishes the will without it' : 'publishes the will with it', async () => {
    const b = await startBareBroker()
    bares.push(b)
    if (fixed) stripWillDelay(b.broker)
    const watcher = await v5(b.port, { clientId: 'watcher' })
    await new Promise<void>((resolve, reject) => watcher.c.subscribe('w/+', { qos: 0 }, (err) => err ? reject(err) : resolve()))
    const will = new Promise<IPublishPacket>((resolve) => watcher.c.on('message', (_t, _p, packet) => resolve(packet)))
    const dying = await v5(b.port, {
      clientId: 'dying',
      properties: { sessionExpiryInterval: 10 },
      will: { topic: 'w/dying', payload: Buffer.from('gone'), qos: 0, retain: false, properties: { willDelayInterval: 1, contentType: 'text/plain' } }
    })
    dying.c.stream.destroy() // no DISCONNECT: the will is due after its delay
    const props = (await will).properties as Record<string, unknown> | undefined // not a PUBLISH property: untyped
    expect(props?.contentType).toBe('text/plain')
    expect(props?.willDelayInterval).toBe(fixed ? undefined : 1)
  })
})
