// A bad packet closes its connection, never the broker, and is audited once (connection:malformed-packet),
// whoever refuses it: Warden's packet guard, mqtt-packet's parser (QoS 3, reserved flags or type) or aedes's
// handlers (a wildcard or empty PUBLISH topic, a wildcard Response Topic, a Topic Alias out of range or
// unknown: DISCONNECT 0x94, a Subscription Identifier of 0) or Warden's (a QoS 1/2 PUBLISH with packet id 0,
// MQTT-2.3.1-1: accepted and answered PUBACK 0 before). Only the guard's refusals were audited: the others
// closed the connection unrecorded. The texts of aedes's refusals are matched (limits/protocol-errors.ts):
// this test fails when an aedes upgrade changes them.
import type { Packet } from 'mqtt-packet'
import { beforeAll, describe, expect, it } from 'vitest'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let observer: TestClient
let n = 0

beforeAll(async () => {
  await scope.start({ config: { persistence: 'memory', limits: { topicAliasMaximum: 4 } } })
  observer = await scope.client('observer')
  await subscribe(observer, 'sensors/#', 1)
})

const str = (s: string): Buffer => Buffer.concat([Buffer.from([0, Buffer.byteLength(s)]), Buffer.from(s)])
/** a PUBLISH of `topic` with header flags `flags` (packet id `id` when QoS > 0): 3.1.1, or MQTT 5 with no properties */
const publishBytes = (topic: string, flags = 0, id = 1, version: 4 | 5 = 4): Buffer => {
  const body = Buffer.concat([
    str(topic), ...((flags & 6) !== 0 ? [Buffer.from([id >> 8, id & 0xff])] : []), ...(version === 5 ? [Buffer.from([0])] : []), Buffer.from('evil')
  ])
  return Buffer.concat([Buffer.from([0x30 | flags, body.length]), body])
}

async function connected (version: 4 | 5): Promise<RawClient> {
  const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
  c.send(connectPacket('sensor-1', `bad-${++n}`, { protocolVersion: version } as Partial<Packet>))
  await c.next('connack')
  return c
}

/** the broker still serves an honest device, and nothing of the bad packets reached a subscriber */
async function stillServes (): Promise<void> {
  const s = await scope.client('sensor-1')
  const m = `marker-${++n}`
  await publish(s, 'sensors/sensor-1/ok', m, { qos: 1 })
  await observer.waitFor((x) => x.payload === m)
  await s.end()
  expect(observer.messages.filter((x) => !x.payload.startsWith('marker-'))).toEqual([])
}

const v5publish = (topic: string, properties: Record<string, unknown>): Packet =>
  ({ cmd: 'publish', topic, qos: 1, messageId: 1, retain: false, dup: false, payload: Buffer.from('evil'), properties }) as Packet

describe('closed and audited once', () => {
  it.each<[string, 4 | 5, Buffer | Packet]>([
    ['QoS 3 (mqtt-packet)', 4, publishBytes('sensors/sensor-1/x', 0x06)],
    ['reserved PUBREL flags (mqtt-packet)', 4, Buffer.from([0x60, 0x02, 0x00, 0x01])],
    ['reserved packet type 0 (mqtt-packet)', 4, Buffer.from([0x00, 0x00])],
    ['a # in a PUBLISH topic (aedes)', 4, publishBytes('sensors/sensor-1/#', 0x02)],
    ['a + in a PUBLISH topic (aedes)', 4, publishBytes('sensors/+/x', 0x02)],
    ['an empty PUBLISH topic (aedes)', 4, publishBytes('', 0x02)],
    ['QoS 0 with DUP (the guard)', 4, publishBytes('sensors/sensor-1/x', 0x08)],
    ['QoS 1 with packet id 0 (Warden, MQTT-2.3.1-1)', 4, publishBytes('sensors/sensor-1/x', 0x02, 0)],
    ['QoS 2 with packet id 0 (Warden, MQTT-2.3.1-1)', 4, publishBytes('sensors/sensor-1/x', 0x04, 0)],
    ['a Topic Alias of 0 (aedes, DISCONNECT 0x94)', 5, v5publish('sensors/sensor-1/x', { topicAlias: 0 })],
    ['a Topic Alias over the maximum (aedes, DISCONNECT 0x94)', 5, v5publish('sensors/sensor-1/x', { topicAlias: 5 })],
    ['an unknown Topic Alias (aedes, DISCONNECT 0x94)', 5, v5publish('', { topicAlias: 3 })],
    ['QoS 1 with packet id 0, MQTT 5 (Warden, MQTT-2.3.1-1)', 5, publishBytes('sensors/sensor-1/x', 0x02, 0, 5)],
    ['a wildcard Response Topic (aedes)', 5, v5publish('sensors/sensor-1/x', { responseTopic: 'sensors/#' })],
    ['a Subscription Identifier in a PUBLISH (Warden)', 5, v5publish('sensors/sensor-1/x', { subscriptionIdentifier: 1 })],
    ['U+0000 in a Content Type (Warden, MQTT-1.5.4-2)', 5, v5publish('sensors/sensor-1/x', { contentType: 'text/\u0000' })],
    ['U+0000 in a User Property (Warden, MQTT-1.5.4-2)', 5, v5publish('sensors/sensor-1/x', { userProperties: { k: 'v\u0000' } })]
  ])('%s', async (_what, version, packet) => {
    const before = scope.count('connection:malformed-packet')
    const c = await connected(version)
    c.send(packet)
    await c.closed()
    expect(scope.count('connection:malformed-packet')).toBe(before + 1)
    await stillServes()
  })

  it('a SUBSCRIBE with a Subscription Identifier of 0 (aedes)', async () => {
    const before = scope.count('connection:malformed-packet')
    const c = await connected(5)
    c.send({ cmd: 'subscribe', messageId: 1, properties: { subscriptionIdentifier: 0 }, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
    await c.closed()
    expect(scope.count('connection:malformed-packet')).toBe(before + 1)
    await stillServes()
  })
})
