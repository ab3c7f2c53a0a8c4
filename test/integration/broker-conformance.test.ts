// Where aedes 1.2 departs from MQTT 3.1.1, Warden conforms.
import { connect as netConnect } from 'node:net'
import { once } from 'node:events'
import mqttPacket from 'mqtt-packet'
import { beforeEach, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { connackCode, publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'
import { rawSession } from '../helpers/raw-mqtt.js'

const scope = useScope()
beforeEach(async () => { await scope.start() })

/** Sends a raw CONNECT and resolves with the CONNACK return code, or 'closed' when the socket closes first. */
async function rawConnect (fields: ConnectFields): Promise<number | 'closed'> {
  const sock = netConnect(scope.tb.port, '127.0.0.1')
  await once(sock, 'connect')
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const result = new Promise<number | 'closed'>((resolve) => {
    parser.on('packet', (p: { cmd: string, returnCode?: number }) => { if (p.cmd === 'connack') resolve(p.returnCode ?? -1) })
    sock.on('data', (d: Buffer) => parser.parse(d))
    sock.on('close', () => resolve('closed'))
  })
  sock.write(encodeConnect(fields))
  const code = await result
  sock.destroy()
  return code
}

interface ConnectFields { clientId: string, clean: boolean, username: string, password: Buffer }

/** A CONNECT written by hand: mqtt-packet itself refuses to generate an empty client id with clean=0. */
function encodeConnect ({ clientId, clean, username, password }: ConnectFields): Buffer {
  const str = (s: string | Buffer): Buffer => {
    const b = Buffer.from(s)
    const len = Buffer.alloc(2)
    len.writeUInt16BE(b.length)
    return Buffer.concat([len, b])
  }
  const flags = 0x80 | 0x40 | (clean ? 0x02 : 0)
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 30]), str(clientId), str(username), str(password)])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

it('refuses an empty client id with clean session 0: CONNACK 2 (MQTT-3.1.3-8)', async () => {
  expect(await rawConnect({ clientId: '', clean: false, username: 'dashboard', password: Buffer.from(PASSWORD) })).toBe(2)
  expect(await rawConnect({ clientId: '', clean: true, username: 'dashboard', password: Buffer.from(PASSWORD) })).toBe(0)
})

it('answers CONNACK 4 for bad credentials and 5 for a refused anonymous client', async () => {
  expect(await connackCode(scope.tb.url, { username: 'dashboard', password: 'wrong' })).toBe(4)
  expect(await connackCode(scope.tb.url, { username: 'nobody', password: PASSWORD })).toBe(4)
  expect(await connackCode(scope.tb.url, {})).toBe(5)
  expect(scope.tb.broker.audit.counts.get('connect:bad-credentials')).toBe(2)
  expect(scope.tb.broker.audit.counts.get('connect:not-authorized')).toBe(1)
})

it('delivers at the granted QoS on wildcard subscriptions (MQTT-3.8.4-6), retained messages too', async () => {
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/retained', 'r2', { qos: 2, retain: true })
  const q1 = await scope.client('dashboard')
  const q0 = await scope.client('observer')
  expect(await subscribe(q1, 'sensors/+/+', 1)).toEqual([1])
  expect(await subscribe(q0, 'sensors/#', 0)).toEqual([0])
  await q1.waitFor((m) => m.payload === 'r2')
  await q0.waitFor((m) => m.payload === 'r2')
  await publish(s1, 'sensors/sensor-1/live', 'l2', { qos: 2 })
  const a = await q1.waitFor((m) => m.payload === 'l2')
  const b = await q0.waitFor((m) => m.payload === 'l2')
  expect([q1.messages.find((m) => m.payload === 'r2')?.qos, a.qos]).toEqual([1, 1])
  expect([q0.messages.find((m) => m.payload === 'r2')?.qos, b.qos]).toEqual([0, 0])
})

for (const persistence of ['memory', 'level'] as const) {
  it(`delivers a message queued for an offline session at the QoS its subscription was granted (MQTT-3.8.4-6), ${persistence}`, async () => {
    await scope.start({ config: { persistence } })
    const keep = await scope.client('dashboard', { clientId: 'granted-1', clean: false })
    expect(await subscribe(keep, 'sensors/+/+', 1)).toEqual([1])
    await keep.end()
    const s1 = await scope.client('sensor-1')
    await publish(s1, 'sensors/sensor-1/q', 'queued-q2', { qos: 2 })
    await publish(s1, 'sensors/sensor-1/q', 'queued-q1', { qos: 1 })
    const back = await scope.client('dashboard', { clientId: 'granted-1', clean: false })
    const m2 = await back.waitFor((m) => m.payload === 'queued-q2')
    const m1 = await back.waitFor((m) => m.payload === 'queued-q1')
    expect([m2.qos, m1.qos]).toEqual([1, 1])
    // acknowledged at QoS 1, they leave the queue: nothing comes again on the next resume
    await back.end()
    const again = await scope.client('dashboard', { clientId: 'granted-1', clean: false })
    await publish(s1, 'sensors/sensor-1/q', 'marker', { qos: 1 })
    await again.waitFor((m) => m.payload === 'marker')
    expect(again.messages.map((m) => m.payload)).toEqual(['marker'])
  })
}

it('allows anonymous clients with the configured role when the config says so', async () => {
  await scope.start({ config: { anonymous: 'consumer' } })
  const anon = await scope.client(undefined)
  expect(await subscribe(anon, ['sensors/#', 'private/#'], 0)).toEqual([0, 128])
  anon.client.publish('sensors/sensor-1/x', 'forged', { qos: 1 })
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/x', 'marker', { qos: 1 })
  await anon.waitFor((m) => m.payload === 'marker')
  expect(anon.messages.map((m) => m.payload)).toEqual(['marker'])
})

it('closes the connection on a QoS 0 PUBLISH with DUP set, and delivers nothing of it (MQTT-3.3.1-2)', async () => {
  const obs = await scope.client('observer')
  await subscribe(obs, 'sensors/#', 0)
  const raw = scope.track(await rawSession(scope.tb.port, 'sensor-1', 'dup0'))
  // header 0x38: PUBLISH, DUP=1, QoS 0, RETAIN=0; body: topic, payload
  const topic = Buffer.from('sensors/sensor-1/x')
  const body = Buffer.concat([Buffer.from([0, topic.length]), topic, Buffer.from('dup-qos0')])
  raw.send(Buffer.concat([Buffer.from([0x38, body.length]), body]))
  await raw.closed()
  expect(scope.count('connection:malformed-packet')).toBe(1)
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/x', 'marker', { qos: 1 })
  await obs.waitFor((m) => m.payload === 'marker')
  expect(obs.messages.map((m) => m.payload)).toEqual(['marker'])
})
