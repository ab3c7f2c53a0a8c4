// Hostile input over raw sockets: each gets MQTT 3.1.1's answer (close, or a CONNACK code), and the broker
// goes on serving everyone else.
import { beforeAll, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { connectPacket, rawClient as openRaw, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const CONNECT_TIMEOUT_MS = 500
const scope = useScope()
let tb: TestBroker
let observer: TestClient
let marker = 0

beforeAll(async () => {
  tb = await scope.start({ config: { limits: { connectTimeoutMs: CONNECT_TIMEOUT_MS } } })
  observer = await scope.client('observer')
  await subscribe(observer, '#', 1)
})

/** a raw socket to the broker, destroyed after the test */
const rawClient = async (port: number): Promise<RawClient> => scope.track(await openRaw(port))

/** a normal client can still connect and publish, and nothing else reached the observer */
async function stillServes (): Promise<void> {
  const s1 = await scope.client('sensor-1')
  const m = `marker-${++marker}`
  await publish(s1, 'sensors/sensor-1/ok', m, { qos: 1 })
  await observer.waitFor((x) => x.payload === m)
  await s1.end()
  expect(observer.messages.map((x) => x.payload).filter((p) => !p.startsWith('marker-'))).toEqual([])
}

async function session (): Promise<RawClient> {
  return scope.track(await rawSession(tb.port, 'sensor-1', `hostile-${++marker}`))
}

const str = (b: Buffer | string): Buffer => {
  const bytes = Buffer.from(b)
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 255]), bytes])
}
const publishRaw = (topic: Buffer | string, flags = 0): Buffer => {
  const body = Buffer.concat([str(topic), ...(flags & 6 ? [Buffer.from([0, 1])] : []), Buffer.from('evil')])
  return Buffer.concat([Buffer.from([0x30 | flags, body.length]), body])
}

describe('after CONNECT, the connection is closed for', () => {
  it.each([
    ['a topic of ill-formed UTF-8 (MQTT-1.5.3-1)', publishRaw(Buffer.from([0x73, 0x2f, 0xc3, 0x28]))],
    ['a topic with U+0000 (MQTT-1.5.3-2)', publishRaw('sensors/sensor-1/\u0000')],
    ['a + wildcard in a PUBLISH topic (MQTT-3.3.2-2)', publishRaw('sensors/+/x')],
    ['a # wildcard in a PUBLISH topic', publishRaw('sensors/sensor-1/#')],
    ['an empty PUBLISH topic (MQTT-4.7.3-1)', publishRaw('')],
    ['a PUBLISH with QoS 3 (MQTT-3.3.1-4)', publishRaw('sensors/sensor-1/x', 0x06)],
    ['reserved packet type 0', Buffer.from([0x00, 0x00])],
    ['packet type 15 (AUTH, MQTT 5 only)', Buffer.from([0xf0, 0x00])],
    ['a CONNACK sent by a client', Buffer.from([0x20, 0x02, 0x00, 0x00])],
    ['a SUBACK sent by a client', Buffer.from([0x90, 0x03, 0x00, 0x01, 0x00])],
    ['reserved header flags on PUBREL (MQTT-2.2.2-2)', Buffer.from([0x60, 0x02, 0x00, 0x01])],
    ['a SUBSCRIBE with reserved flags 0 (MQTT-3.8.1-1)', Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00])],
    ['a SUBSCRIBE filter of ill-formed UTF-8', Buffer.from([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xff, 0x00])],
    ['a remaining length of five bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])],
    ['a packet longer than maxPacketBytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])],
    ['a second CONNECT (MQTT-3.1.0-2)', Buffer.from(connectPacketBytes())]
  ])('%s', async (_what, bytes) => {
    const r = await session()
    r.send(bytes)
    await r.closed()
    await stillServes()
  })
})

function connectPacketBytes (): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 30]), str('again')])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

describe('before or at CONNECT', () => {
  it('closes without CONNACK on a client id with U+0000 or of ill-formed UTF-8', async () => {
    for (const clientId of [Buffer.from('\u0000warden-qos2:sensor-1'), Buffer.from([0x61, 0xc3])]) {
      const r = await rawClient(tb.port)
      const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 30]), str(clientId)])
      r.send(Buffer.concat([Buffer.from([0x10, body.length]), body]))
      await r.closed()
      expect(r.packets).toEqual([])
    }
    await stillServes()
  })

  it('closes on a PUBLISH before CONNECT (MQTT-3.1.0-1) and on a wrong protocol name', async () => {
    const early = await rawClient(tb.port)
    early.send(publishRaw('sensors/sensor-1/x'))
    await early.closed()
    const wrong = await rawClient(tb.port)
    const body = Buffer.concat([str('MQTX'), Buffer.from([4, 0x02, 0, 30]), str('w')])
    wrong.send(Buffer.concat([Buffer.from([0x10, body.length]), body]))
    await wrong.closed()
    expect([early.packets, wrong.packets]).toEqual([[], []])
    await stillServes()
  })

  it('with mqtt5: false, answers CONNACK 1 to a protocol level it does not speak (MQTT-3.1.2-2)', async () => {
    const own = await scope.startAnother({ config: { mqtt5: false } })
    const r = await rawClient(own.port)
    r.send(connectPacket('sensor-1', 'v5', { protocolVersion: 5 } as never))
    expect(await r.next('connack')).toMatchObject({ returnCode: 1 })
    await r.closed()
  })

  it('closes a connection whose CONNECT never completes, after connectTimeoutMs', async () => {
    const r = await rawClient(tb.port)
    const t0 = Date.now()
    r.send(connectPacketBytes().subarray(0, 7))
    await r.closed()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50)
    await stillServes()
  })
})

describe('floods', () => {
  it('closes a flood of sockets that never send CONNECT, serving others meanwhile', async () => {
    const before = tb.broker.limits.stats.connections
    const idle = await Promise.all(Array.from({ length: 100 }, () => rawClient(tb.port)))
    await stillServes()
    await Promise.all(idle.map((r) => r.closed()))
    await waitUntil(() => tb.broker.limits.stats.connections === before ? true : undefined, 'the flood to be gone', 5000, 20)
  })

  it('closes a flood of clients that CONNECT and then fall silent, after 1.5 × their keepalive', async () => {
    const silent = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const r = await rawClient(tb.port)
      r.send(connectPacket('sensor-2', `silent-${i}`, { keepalive: 1 } as never))
      await r.next('connack')
      return r
    }))
    await stillServes()
    const t0 = Date.now()
    await Promise.all(silent.map((r) => r.closed()))
    expect(Date.now() - t0).toBeLessThan(5000)
  })
})
