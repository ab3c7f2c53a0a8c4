// CONNACK sessionPresent (MQTT-3.2.2-2) for a persistent session that holds QoS 2 state but no
// subscription: aedes 1.2 answers from subscriptions alone. Raw clients, to stop a QoS 2 flow half-way.
import { once } from 'node:events'
import type { Packet } from 'mqtt-packet'
import { expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish } from '../helpers/mqtt.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

const start = (persistence: 'level' | 'memory'): Promise<TestBroker> => scope.start({ config: { persistence } })

/** CONNECT with clean=0; resolves with the client and the CONNACK's sessionPresent */
async function resume (b: TestBroker, username: string, clientId: string): Promise<{ c: RawClient, present: boolean }> {
  const c = scope.track(await rawClient(b.port))
  c.send(connectPacket(username, clientId, { clean: false }))
  const ack = await c.next('connack') as Packet & { returnCode: number, sessionPresent: boolean }
  expect(ack.returnCode).toBe(0)
  return { c, present: ack.sessionPresent }
}

/** drops the connection and waits until the broker has let the client go */
async function drop (b: TestBroker, c: RawClient): Promise<void> {
  const gone = once(b.broker.aedes, 'clientDisconnect')
  c.destroy()
  await gone
}

it('a session whose only state is a PUBREL awaiting PUBCOMP gets sessionPresent 1, then the PUBREL again', async () => {
  const b = await start('level')
  const { c: sub } = await resume(b, 'dashboard', 'sp-sub')
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/sensor-1/q2', qos: 2 }] } as Packet)
  await sub.next('suback')
  const pub = await scope.client('sensor-1')
  await publish(pub, 'sensors/sensor-1/q2', 'x', { qos: 2 })
  await pub.end()
  const { messageId } = await sub.next('publish') as Packet & { messageId: number }
  sub.send({ cmd: 'pubrec', messageId } as Packet)
  await sub.next('pubrel')
  sub.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['sensors/sensor-1/q2'] } as Packet)
  await sub.next('unsuback')
  await drop(b, sub)

  const again = await resume(b, 'dashboard', 'sp-sub')
  expect(again.present).toBe(true)
  expect(await again.c.next('pubrel')).toMatchObject({ messageId })
  // nothing was subscribed on the way, nothing refused in the audit
  const live = (b.broker.aedes as unknown as { clients: Record<string, { subscriptions: object }> }).clients['sp-sub']
  expect(Object.keys(live?.subscriptions ?? { missing: 1 })).toEqual([])
  expect([...b.broker.audit.counts.keys()].filter((k) => k.startsWith('subscribe:'))).toEqual([])
})

const ONLY_INCOMING_QOS2 = '%s: a session whose only state is an incoming QoS 2 message awaiting PUBREL gets sessionPresent 1'
it.each(['level', 'memory'] as const)(ONLY_INCOMING_QOS2, async (persistence) => {
  let b = await start(persistence)
  const { c: pub } = await resume(b, 'sensor-1', 'sp-pub')
  pub.send({ cmd: 'publish', topic: 'sensors/sensor-1/in', payload: Buffer.from('in'), qos: 2, messageId: 7, retain: false, dup: false } as Packet)
  await pub.next('pubrec')
  await drop(b, pub)
  if (persistence === 'level') {
    // the state is in the store: it counts after a restart too
    b = await scope.restart()
  }
  const again = await resume(b, 'sensor-1', 'sp-pub')
  expect(again.present).toBe(true)
  again.c.send({ cmd: 'pubrel', messageId: 7 } as Packet)
  expect(await again.c.next('pubcomp')).toMatchObject({ messageId: 7 })
  // with the flow complete the session holds nothing: sessionPresent 1 only for what is there
  await drop(b, again.c)
  expect((await resume(b, 'sensor-1', 'sp-pub')).present).toBe(false)
})

it('a session with nothing stored gets sessionPresent 0; one with a subscription gets 1', async () => {
  const b = await start('level')
  const first = await resume(b, 'dashboard', 'sp-empty')
  expect(first.present).toBe(false)
  first.c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
  await first.c.next('suback')
  await drop(b, first.c)
  expect((await resume(b, 'dashboard', 'sp-empty')).present).toBe(true)
})
