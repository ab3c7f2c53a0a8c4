// A QoS 2 message on `persistence: redis`, the broker SIGKILLed after the message's queue entries reached Redis
// and before the QoS 2 guard's mark (published) did (apps/broker/src/delivery/qos2-guard.ts). Redis has no
// start-up recovery: the message is found unmarked only when its publisher, which got no PUBREC, sends it
// again, by which time a persistent subscriber may have taken it from its queue. It must still be delivered
// exactly once. A preloaded test module holds the mark's write (test/helpers/hold-redis-mark.mjs).
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useBrokerEnv } from '../helpers/broker-env.js'
import { converse, holding, sendMarker } from '../helpers/held-store.js'
import { useScope } from '../helpers/scope.js'

const TOPIC = 'sensors/sensor-1/mark'
const MARKER = 'sensors/sensor-2/marker'

const scope = useScope()
const onRedis = useBrokerEnv(scope, 'warden-redis-mark-', 'redis')

async function startNode (hold: boolean): Promise<BrokerProcess> {
  const node = await startBrokerProcess({
    ...onRedis.env(),
    ...(hold ? holding('hold-redis-mark.mjs', {}) : {})
  })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const reader = async (node: BrokerProcess): Promise<RawClient> => scope.track(await rawSession(node.port, 'dashboard', 'reader', { clean: false }))
const device = async (node: BrokerProcess): Promise<RawClient> => scope.track(await rawSession(node.port, 'sensor-1', 'device-1', { clean: false }))
const publishPacket = (payload: string, dup: boolean): Packet =>
  ({ cmd: 'publish', topic: TOPIC, payload: Buffer.from(payload), qos: 2, messageId: 7, retain: false, dup }) as Packet

/** the PUBLISHes of `payload` a client got */
const publishesOf = (c: RawClient, payload: string): Packet[] =>
  c.packets.filter((p) => p.cmd === 'publish' && (p as Packet & { payload: Buffer }).payload.toString() === payload)
const isPublishOf = (topic: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Packet & { topic: string }).topic === topic

/**
 * The reader subscribes (sensors/# at QoS 2) and leaves; the device's QoS 2 PUBLISH of m1 is queued for it in
 * Redis, its mark held, and the broker is SIGKILLed before any PUBREC. Returns the restarted broker.
 */
async function crashBeforeMark (): Promise<BrokerProcess> {
  const node = await startNode(true)
  const r = await reader(node)
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
  await r.next('suback')
  r.destroy()
  await r.closed()
  const d = await device(node)
  d.send(publishPacket('m1', false))
  await node.app.waitForLog((l) => l.msg === 'test: QoS 2 mark held')
  await node.app.stop('SIGKILL')
  await d.closed()
  // no PUBREC: the message is not acknowledged yet
  expect(d.packets.map((p) => p.cmd)).toEqual(['connack'])
  return await startNode(false)
}

/** the device sends m1 again (dup), as MQTT asks of a PUBLISH with no PUBREC, and completes it */
async function resend (node: BrokerProcess): Promise<void> {
  const d = await device(node)
  d.send(publishPacket('m1', true))
  await d.next('pubrec')
  d.send({ cmd: 'pubrel', messageId: 7 } as Packet)
  await d.next('pubcomp')
  d.destroy()
}

/** a reader session: everything queued before a new marker, to the end of QoS 2; then it leaves */
async function drain (node: BrokerProcess): Promise<number> {
  const r = await reader(node)
  await sendMarker(scope, node, MARKER)
  await converse(r, isPublishOf(MARKER))
  r.send({ cmd: 'pingreq' } as Packet)
  await r.next('pingresp')
  r.destroy()
  await r.closed()
  return publishesOf(r, 'm1').length
}

describe('a QoS 2 message queued in Redis whose mark was not written when the broker died', () => {
  it('is delivered once when its publisher sends it again before the subscriber is back', async () => {
    const again = await crashBeforeMark()
    await resend(again)
    const counts = [await drain(again), await drain(again)]
    expect(counts.reduce((a, b) => a + b)).toBe(1)
  })

  it('is delivered once when the subscriber took it from its queue before the publisher sends it again', async () => {
    const again = await crashBeforeMark()
    const first = await drain(again)
    await resend(again)
    const counts = [first, await drain(again)]
    expect(counts.reduce((a, b) => a + b)).toBe(1)
  })
})
