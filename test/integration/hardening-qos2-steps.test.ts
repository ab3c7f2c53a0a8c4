// A QoS 2 message through the level store, the broker SIGKILLed at each step of both handshakes (publisher:
// PUBLISH, PUBREC, PUBREL, PUBCOMP; persistent subscriber: PUBLISH, PUBREC, PUBREL, PUBCOMP): each packet
// the broker sends must not go out before what it promises is on disk, and after the restart every client,
// carrying on as MQTT asks, gets the message exactly once. A preloaded test module holds the one write batch
// a step waits on (test/helpers/hold-keys.mjs): while it is held the broker must not send that step's packet.
// (The publisher's first step, PUBREC before the message is queued on disk, is store-held-commit.test.ts.)
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useBrokerEnv } from '../helpers/broker-env.js'
import { converse, heldWhileRunning, holding, sendMarker } from '../helpers/held-store.js'
import { useScope } from '../helpers/scope.js'

const TOPIC = 'sensors/sensor-1/steps'
const MARKER = 'sensors/sensor-2/marker'

const scope = useScope()
const store = useBrokerEnv(scope, 'warden-qos2-steps-', 'level')

/** a broker process on the test's data dir; `hold`: the batch to hold (a key pattern, and how many such batches pass first) */
async function startNode (hold?: { key: string, skip: number }): Promise<BrokerProcess> {
  const node = await startBrokerProcess({
    ...store.env(),
    ...(hold !== undefined ? holding('hold-keys.mjs', { WARDEN_TEST_HOLD_KEY: hold.key, WARDEN_TEST_HOLD_SKIP: String(hold.skip) }) : {})
  })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const reader = async (node: BrokerProcess): Promise<RawClient> => scope.track(await rawSession(node.port, 'dashboard', 'reader', { clean: false }))
const device = async (node: BrokerProcess): Promise<RawClient> => scope.track(await rawSession(node.port, 'sensor-1', 'device-1', { clean: false }))
const publishPacket = (payload: string, messageId: number): Packet =>
  ({ cmd: 'publish', topic: TOPIC, payload: Buffer.from(payload), qos: 2, messageId, retain: false, dup: false }) as Packet

/** the persistent subscriber's session: sensors/# at QoS 2 */
async function subscribeReader (node: BrokerProcess): Promise<RawClient> {
  const r = await reader(node)
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
  await r.next('suback')
  return r
}

/** SIGKILL, then everything the broker wrote to the clients has been read once their connections are seen closed */
async function kill (node: BrokerProcess, clients: RawClient[]): Promise<void> {
  await node.app.stop('SIGKILL')
  for (const c of clients) await c.closed()
}

const cmds = (c: RawClient): string[] => c.packets.map((p) => p.cmd)

const isMarker = (p: Packet): boolean => p.cmd === 'publish' && (p as Packet & { topic: string }).topic === MARKER
/** the PUBLISHes of `payload` among `packets` */
const publishesOf = (packets: Packet[], payload: string): Array<Packet & { messageId: number }> =>
  packets.filter((p) => p.cmd === 'publish' && (p as Packet & { payload: Buffer }).payload.toString() === payload) as Array<Packet & { messageId: number }>

// two broker processes a test, each started and killed: 7 s on an idle machine, up to 26 s seen at a load of 16
describe('a QoS 2 message through the level store, the broker SIGKILLed at each step', { timeout: 60_000 }, () => {
  it('is not sent to the subscriber before its packet id is on disk, and is delivered once after the restart', async () => {
    // a connected subscriber's id is written in its queue entry (aedes/queued-ids.ts): that batch is held
    const node = await startNode({ key: '^outgoing:reader:', skip: 0 })
    const r = await subscribeReader(node)
    const d = await device(node)
    d.send(publishPacket('m1', 7))
    await heldWhileRunning(scope, node)
    expect(cmds(r)).toEqual(['connack', 'suback'])
    // aedes answers PUBREC once the message is handed to the live subscribers: not yet either
    expect(cmds(d)).toEqual(['connack'])
    await kill(node, [r, d])

    const again = await startNode()
    const d2 = await device(again)
    // no PUBREC came: the device sends the PUBLISH again; it is stored and queued, so it is not published again
    d2.send({ ...publishPacket('m1', 7), dup: true } as Packet)
    await d2.next('pubrec')
    d2.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d2.next('pubcomp')
    await sendMarker(scope, again, MARKER)
    const got = await converse(await reader(again), isMarker)
    expect(publishesOf(got, 'm1')).toHaveLength(1)
  })

  it('queued while the subscriber was away: not sent it on its return before its packet id is on disk, and delivered once after the restart', async () => {
    // no id is given at queue time to a subscriber not connected: it gets one as its queue is read, written apart
    const node = await startNode({ key: '^outgoing-id:reader:', skip: 0 })
    const away = await subscribeReader(node)
    away.destroy()
    await away.closed()
    const d = await device(node)
    d.send(publishPacket('m1', 7))
    await d.next('pubrec')
    d.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d.next('pubcomp')
    const r = await reader(node)
    await heldWhileRunning(scope, node)
    expect(publishesOf(r.packets, 'm1')).toEqual([])
    await kill(node, [r, d])

    const again = await startNode()
    await sendMarker(scope, again, MARKER)
    const got = await converse(await reader(again), isMarker)
    expect(publishesOf(got, 'm1')).toHaveLength(1)
  })

  it('does not send the subscriber PUBREL before that state is on disk: after the restart it gets the PUBLISH again under the same id', async () => {
    // the first batch with the reader's queue entry (the PUBLISH, with its packet id) passes, the second (the
    // PUBREL, which replaces it) is held
    const node = await startNode({ key: '^outgoing:reader:', skip: 1 })
    const r = await subscribeReader(node)
    const d = await device(node)
    d.send(publishPacket('m1', 7))
    await d.next('pubrec')
    const first = await r.next('publish') as Packet & { messageId: number }
    r.send({ cmd: 'pubrec', messageId: first.messageId } as Packet)
    await heldWhileRunning(scope, node)
    expect(cmds(r)).not.toContain('pubrel')
    await kill(node, [r, d])

    const again = await startNode()
    const d2 = await device(again)
    d2.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d2.next('pubcomp')
    await sendMarker(scope, again, MARKER)
    const got = await converse(await reader(again), isMarker)
    // the same delivery: the reader still holds that id as received and not released (MQTT-4.3.3)
    expect(publishesOf(got, 'm1').map((p) => p.messageId)).toEqual([first.messageId])
  })

  it('SIGKILLed with the subscriber\'s PUBREL in its queue entry: sent again under the same id after the restart, and gone once it is completed', async () => {
    const node = await startNode()
    const r = await subscribeReader(node)
    const d = await device(node)
    d.send(publishPacket('m1', 7))
    await d.next('pubrec')
    d.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d.next('pubcomp')
    const first = await r.next('publish') as Packet & { messageId: number }
    r.send({ cmd: 'pubrec', messageId: first.messageId } as Packet)
    // the PUBREL is sent once it is on disk, in the queue entry it replaced
    await r.next('pubrel')
    await kill(node, [r, d])

    const again = await startNode()
    const r2 = await reader(again)
    await sendMarker(scope, again, MARKER)
    const got = await converse(r2, isMarker)
    expect(got.filter((p) => p.cmd === 'pubrel').map((p) => (p as Packet & { messageId: number }).messageId)).toEqual([first.messageId])
    expect(publishesOf(got, 'm1')).toEqual([])
    // the marker's own handshake, completed after the PUBCOMP, puts its removal on disk (one batch at a time)
    await converse(r2, (p) => p.cmd === 'pubrel' && (p as Packet & { messageId: number }).messageId !== first.messageId)
    r2.send({ cmd: 'pingreq' } as Packet)
    await r2.next('pingresp')
    await kill(again, [r2])

    const third = await startNode()
    await sendMarker(scope, third, MARKER)
    const after = await converse(await reader(third), isMarker)
    expect(after.filter((p) => p.cmd === 'pubrel' || publishesOf([p], 'm1').length > 0)).toEqual([])
  })

  it('does not send the publisher PUBCOMP before the packet is removed on disk: its packet id is free for a new message after the restart', async () => {
    // the first batch with the device's incoming packet (its store) passes, the second (its removal) is held
    const node = await startNode({ key: '^incoming:device-1:', skip: 1 })
    const r = await subscribeReader(node)
    r.destroy()
    await r.closed()
    const d = await device(node)
    d.send(publishPacket('m1', 7))
    await d.next('pubrec')
    d.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await heldWhileRunning(scope, node)
    expect(cmds(d)).not.toContain('pubcomp')
    await kill(node, [d])

    const again = await startNode()
    const d2 = await device(again)
    d2.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d2.next('pubcomp')
    d2.packets.length = 0
    // the same packet id, a new message
    d2.send(publishPacket('m2', 7))
    await d2.next('pubrec')
    d2.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d2.next('pubcomp')
    await sendMarker(scope, again, MARKER)
    const got = await converse(await reader(again), isMarker)
    expect([publishesOf(got, 'm1').length, publishesOf(got, 'm2').length]).toEqual([1, 1])
  })

  it('is not published again at the restart once the subscriber completed it while its publisher had not yet sent PUBREL', async () => {
    const node = await startNode()
    const r = await subscribeReader(node)
    const d = await device(node)
    d.send(publishPacket('m1', 7))
    await d.next('pubrec')
    await converse(r, (p) => p.cmd === 'pubrel')
    // the broker has handled the PUBCOMP once it answers the PINGREQ after it
    r.send({ cmd: 'pingreq' } as Packet)
    await r.next('pingresp')
    await kill(node, [r, d])

    const again = await startNode()
    const r2 = await reader(again)
    const d2 = await device(again)
    d2.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d2.next('pubcomp')
    await sendMarker(scope, again, MARKER)
    const got = await converse(r2, isMarker)
    expect(publishesOf(got, 'm1')).toEqual([])
    // taken for what it is, a message already published: neither published again nor refused at the start
    const logs = again.app.output.filter((l) => l.includes('QoS 2') || l.includes('denied publish'))
    expect(logs).toEqual([])
  })
})
