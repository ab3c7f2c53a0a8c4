// A server acknowledges QoS 1 PUBLISHes in the order it received them (MQTT-4.6.0-2, MQTT 3.1.1 4.6). Warden
// answered a refused publish (deniedPublish: drop) as soon as it was refused, while an accepted one waits for the
// store (hooks/store-before-ack.ts): among publishes read together, a refusal's PUBACK overtook the accepted ones
// before it (seen: 2, 4, 1, 3, 5 for accepted, refused, accepted, refused, accepted in one read; 3.1.1 and MQTT 5,
// memory and level; red team round 12). Accepted ones overtook each other too: one queued for a persistent
// subscriber was acknowledged after those read with it that were not (2, 3, 4, 1), and QoS 2 PUBRECs likewise
// (3, 2, 4, 5, 1, 6; MQTT-4.6.0-3). hooks/ack-order.ts holds a PUBACK or PUBREC until those of the connection's
// earlier publishes of its QoS are written.
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { subscribe, type TestClient } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { connectPacket, encode, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
type Raw = Awaited<ReturnType<typeof rawClient>>

/** the packet ids of the packets of `cmd` that `c` got, in order */
const idsOf = (c: Raw, cmd: string): number[] => c.packets.filter((p) => p.cmd === cmd).map((p) => (p as { messageId?: number }).messageId ?? 0)

/** a broker; `keeper`, a persistent subscriber of sensors/sensor-1/queued at `qos`; sensor-1 connected raw as `clientId` */
async function keeperAndPublisher (persistence: 'memory' | 'level', version: 4 | 5, qos: 1 | 2, clientId: string): Promise<{ keeper: TestClient, c: Raw }> {
  await scope.start({ config: { persistence } })
  const keeper = await scope.client('dashboard', { clientId: 'keeper', clean: false })
  expect(await subscribe(keeper, 'sensors/sensor-1/queued', qos)).toEqual([qos])
  const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
  c.send(connectPacket('sensor-1', clientId, { protocolVersion: version } as Partial<Packet>))
  await c.next('connack')
  return { keeper, c }
}

describe.each([[4, 'memory'], [5, 'memory'], [4, 'level'], [5, 'level']] as const)('MQTT %s, %s store', (version, persistence) => {
  it('PUBACKs come in the order of the PUBLISHes, refused ones included', async () => {
    await scope.start({ config: { persistence } })
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
    c.send(connectPacket('sensor-1', 'in-order', { protocolVersion: version } as Partial<Packet>))
    await c.next('connack')
    // sensor-1 owns sensors/sensor-1/#, not sensors/sensor-2/#: accepted, refused, accepted, refused, accepted
    const topics = ['sensors/sensor-1/a', 'sensors/sensor-2/x', 'sensors/sensor-1/b', 'sensors/sensor-2/y', 'sensors/sensor-1/c']
    // one write: aedes handles the packets of one read side by side
    c.send(Buffer.concat(topics.map((topic, i) =>
      encode({ cmd: 'publish', topic, qos: 1, messageId: i + 1, retain: false, dup: false, payload: Buffer.from('p') } as Packet, version))))
    const acks = (): number[] => idsOf(c, 'puback')
    await waitUntil(() => acks().length === 5 ? true : undefined, '5 PUBACKs', 5000, 10)
    expect(acks()).toEqual([1, 2, 3, 4, 5])
    // each with its own answer: MQTT 5 is told which were refused (0x87), 3.1.1 cannot be
    const codes = c.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { reasonCode?: number }).reasonCode ?? 0)
    expect(codes).toEqual(version === 5 ? [0, 0x87, 0, 0x87, 0] : [0, 0, 0, 0, 0])
  })

  it('PUBACKs of accepted publishes come in order when one waits for a persistent subscriber\'s queue and the next do not', async () => {
    const { keeper, c } = await keeperAndPublisher(persistence, version, 1, 'accepted-in-order')
    // queued for keeper (stored before its PUBACK), no subscriber, retained, no subscriber, queued again
    const publishes = [['queued', false], ['a', false], ['kept', true], ['b', false], ['queued', false]] as const
    c.send(Buffer.concat(publishes.map(([leaf, retain], i) =>
      encode({ cmd: 'publish', topic: `sensors/sensor-1/${leaf}`, qos: 1, messageId: i + 1, retain, dup: false, payload: Buffer.from('p') } as Packet,
        version))))
    const acks = (): number[] => idsOf(c, 'puback')
    await waitUntil(() => acks().length === 5 ? true : undefined, '5 PUBACKs', 5000, 10)
    expect(acks()).toEqual([1, 2, 3, 4, 5])
    // nothing lost by the wait: keeper has both of its messages
    await waitUntil(() => keeper.messages.length >= 2 ? true : undefined, 'both queued messages', 5000, 10)
    expect(keeper.messages.map((m) => m.topic)).toEqual(['sensors/sensor-1/queued', 'sensors/sensor-1/queued'])
  })

  it('PUBRECs come in the order of the QoS 2 PUBLISHes: queued, not, refused, retained, with a QoS 1 one among them', async () => {
    const { c } = await keeperAndPublisher(persistence, version, 2, 'pubrec-in-order')
    const publishes = [
      ['sensor-1/queued', false, 2], ['sensor-1/a', false, 2], ['sensor-2/x', false, 2], ['sensor-1/c', false, 1],
      ['sensor-1/kept', true, 2], ['sensor-1/b', false, 2], ['sensor-1/queued', false, 2]
    ] as const
    c.send(Buffer.concat(publishes.map(([topic, retain, qos], i) =>
      encode({ cmd: 'publish', topic: `sensors/${topic}`, qos, messageId: i + 1, retain, dup: false, payload: Buffer.from('p') } as Packet, version))))
    const answers = (cmd: string): number[] => idsOf(c, cmd)
    await waitUntil(() => answers('pubrec').length === 6 && answers('puback').length === 1 ? true : undefined, '6 PUBRECs, 1 PUBACK', 5000, 10)
    expect(answers('pubrec')).toEqual([1, 2, 3, 5, 6, 7])
    const codes = c.packets.filter((p) => p.cmd === 'pubrec').map((p) => (p as { reasonCode?: number }).reasonCode ?? 0)
    expect(codes).toEqual(version === 5 ? [0, 0, 0x87, 0, 0, 0] : [0, 0, 0, 0, 0, 0])
  })
})

describe.each([[4, 'memory'], [5, 'level']] as const)('MQTT %s, %s store: a packet id used again before its answer', (version, persistence) => {
  it('is answered each time, and holds back nothing after it', async () => {
    await scope.start({ config: { persistence } })
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
    c.send(connectPacket('sensor-1', 'ids-again', { protocolVersion: version } as Partial<Packet>))
    await c.next('connack')
    const pub = (messageId: number, qos: 1 | 2, dup = false): Buffer =>
      encode({ cmd: 'publish', topic: 'sensors/sensor-1/a', qos, messageId, retain: false, dup, payload: Buffer.from('p') } as Packet, version)
    const answers = (cmd: string): number[] => idsOf(c, cmd)
    // each id twice in one read (the second a DUP resend), QoS 2 and QoS 1
    c.send(Buffer.concat([pub(1, 2), pub(1, 2, true), pub(2, 2), pub(1, 1), pub(1, 1, true), pub(2, 1)]))
    await waitUntil(() => answers('pubrec').length === 3 && answers('puback').length === 3 ? true : undefined, '3 PUBRECs, 3 PUBACKs', 5000, 10)
    // the next read's answers are not waiting on anything left over
    c.send(Buffer.concat([pub(3, 2), pub(3, 1)]))
    await waitUntil(() => answers('pubrec').length === 4 && answers('puback').length === 4 ? true : undefined, '4 PUBRECs, 4 PUBACKs', 5000, 10)
    expect(answers('pubrec')).toEqual([1, 1, 2, 3])
    expect(answers('puback')).toEqual([1, 1, 2, 3])
  })
})

describe.each([4, 5] as const)('MQTT %s: publishes read with the CONNECT, before its CONNACK (red team round 14)', (version) => {
  it('are answered in order, refusals and reserved topics among them, and hold back nothing of the next read', async () => {
    await scope.start({ config: { persistence: 'level' } })
    const c = scope.track(await rawClient(scope.tb.port, { protocolVersion: version }))
    const pub = (topic: string, qos: 1 | 2, messageId: number): Buffer =>
      encode({ cmd: 'publish', topic, qos, messageId, retain: false, dup: false, payload: Buffer.from('p') } as Packet, version)
    // aedes queues these until the CONNECT is through, then handles them together
    c.send(Buffer.concat([encode(connectPacket('sensor-1', 'before-connack', { protocolVersion: version } as Partial<Packet>), version),
      pub('sensors/sensor-1/a', 1, 1), pub('sensors/sensor-2/a', 1, 2), pub('sensors/sensor-1/a', 2, 3),
      pub('$WARDEN/control', 1, 4), pub('$SYS/x', 2, 5), pub('sensors/sensor-1/b', 1, 6)]))
    await c.next('connack')
    await waitUntil(() => idsOf(c, 'puback').length === 4 && idsOf(c, 'pubrec').length === 2 ? true : undefined, '4 PUBACKs, 2 PUBRECs', 5000, 10)
    c.send(Buffer.concat([pub('sensors/sensor-1/c', 1, 7), pub('sensors/sensor-1/c', 2, 8)]))
    await waitUntil(() => idsOf(c, 'puback').length === 5 && idsOf(c, 'pubrec').length === 3 ? true : undefined, 'the next read\'s answers', 5000, 10)
    expect(idsOf(c, 'puback')).toEqual([1, 2, 4, 6, 7])
    expect(idsOf(c, 'pubrec')).toEqual([3, 5, 8])
    expect(c.isClosed).toBe(false)
  })
})
