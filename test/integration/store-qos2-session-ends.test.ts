// A QoS 2 publisher whose session ends with its connection (3.1.1 Clean Session, MQTT 5 Session Expiry 0): its
// incoming packets awaiting PUBREL are kept in memory, not written — on level (store/level-queues.ts,
// StagedRecord.volatile), and on Redis for a session that also started clean (MarkRecords.keepIncoming). After a
// crash nothing could rightly read them: the session they belong to is gone, and the message is in its subscribers'
// queues on disk before PUBREC, as always. Written, they outlived the crash: an MQTT 5 device that came back with
// Clean Start 0 was told its session was present, and its next message under the same packet id was taken for a
// retransmission (PUBREC, never delivered; on Redis still so, see the README); a 3.1.1 one left them in the store
// until its client id connected again. A publisher with a session that outlives its connection is the other tests'
// case (hardening-qos2-steps, hardening-crash): its packets are stored before PUBREC.
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { Level } from 'level'
import type { Packet } from 'mqtt-packet'
import { beforeEach, describe, expect, it } from 'vitest'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { connectPacket, rawClient, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useBrokerEnv } from '../helpers/broker-env.js'
import { converse, sendMarker } from '../helpers/held-store.js'
import { useScope } from '../helpers/scope.js'

const TOPIC = 'sensors/sensor-1/ends'
const MARKER = 'sensors/sensor-2/marker'

const scope = useScope()
let store: ReturnType<typeof useBrokerEnv>

async function startNode (): Promise<BrokerProcess> {
  const node = await startBrokerProcess(store.env())
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const publishPacket = (payload: string, messageId: number): Packet =>
  ({ cmd: 'publish', topic: TOPIC, payload: Buffer.from(payload), qos: 2, messageId, retain: false, dup: false }) as Packet

/** the persistent subscriber's session (sensors/# at QoS 2), left offline: what it is sent waits in its queue */
async function subscribeOffline (node: BrokerProcess): Promise<void> {
  const r = scope.track(await rawSession(node.port, 'dashboard', 'reader', { clean: false }))
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
  await r.next('suback')
  r.destroy()
  await r.closed()
}

/** the device over MQTT 5, Clean Start 0 and no Session Expiry Interval (0: its session ends with the connection) */
async function deviceV5 (node: BrokerProcess): Promise<{ d: RawClient, sessionPresent: boolean }> {
  const d = scope.track(await rawClient(node.port, { protocolVersion: 5 }))
  d.send(connectPacket('sensor-1', 'device-1', { protocolVersion: 5, clean: false } as Partial<Packet>))
  const ack = await d.next('connack') as Packet & { reasonCode: number, sessionPresent: boolean }
  expect(ack.reasonCode).toBe(0)
  return { d, sessionPresent: ack.sessionPresent }
}

/** the payloads of the QoS 2 PUBLISHes the reader is sent, up to the marker (the subscriber completing each) */
async function readerGets (node: BrokerProcess): Promise<string[]> {
  await sendMarker(scope, node, MARKER)
  const r = scope.track(await rawSession(node.port, 'dashboard', 'reader', { clean: false }))
  const got = await converse(r, (p) => p.cmd === 'publish' && (p as Packet & { topic: string }).topic === MARKER)
  return got.filter((p) => p.cmd === 'publish' && (p as Packet & { topic: string }).topic === TOPIC)
    .map((p) => (p as Packet & { payload: Buffer }).payload.toString())
}

/** the store's keys of incoming QoS 2 packets, read with the broker stopped (level) or running on (Redis) */
async function incomingKeys (): Promise<string[]> {
  const url = store.env().WARDEN_REDIS_URL
  if (url !== undefined) {
    const r = new Redis(url)
    try {
      return await r.keys('incoming:*')
    } finally {
      r.disconnect()
    }
  }
  const db = new Level<string, Buffer>(join(store.env().WARDEN_DATA_DIR ?? '', 'mqtt-store'), { valueEncoding: 'buffer' })
  const keys: string[] = []
  try {
    for await (const key of db.keys()) if (key.startsWith('incoming:')) keys.push(key)
  } finally {
    await db.close()
  }
  return keys
}

const CLEAN_311 = '3.1.1, Clean Session: nothing of its packet awaiting PUBREL is stored after a SIGKILL, and the message is delivered once'

/** a clean 3.1.1 device's QoS 2 message, the broker SIGKILLed after its PUBREC: nothing of it stored, delivered once */
async function cleanSessionKilledAfterPubrec (): Promise<void> {
  const node = await startNode()
  await subscribeOffline(node)
  const d = scope.track(await rawSession(node.port, 'sensor-1', 'device-1'))
  d.send(publishPacket('m1', 7))
  await d.next('pubrec')
  await node.app.stop('SIGKILL')
  await d.closed()

  expect(await incomingKeys()).toEqual([])

  const again = await startNode()
  expect(await readerGets(again)).toEqual(['m1'])
}

// two broker processes a test, each started and killed
describe('a QoS 2 publisher whose session ends with its connection, on the level store', { timeout: 60_000 }, () => {
  const onLevel = useBrokerEnv(scope, 'warden-qos2-ends-', 'level')
  beforeEach(() => { store = onLevel })
  it('MQTT 5, Session Expiry 0: after a SIGKILL between PUBREC and PUBREL its session is gone, and its next message under that ' +
    'packet id is delivered', async () => {
    const node = await startNode()
    await subscribeOffline(node)
    const { d } = await deviceV5(node)
    d.send(publishPacket('m1', 7))
    await d.next('pubrec')
    await node.app.stop('SIGKILL')
    await d.closed()

    const again = await startNode()
    const back = await deviceV5(again)
    expect(back.sessionPresent).toBe(false)
    back.d.send(publishPacket('m2', 7))
    await back.d.next('pubrec')
    back.d.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await back.d.next('pubcomp')
    // m1 was queued for the reader on disk before its PUBREC: delivered once; m2 is a new message, not a retransmission
    expect(await readerGets(again)).toEqual(['m1', 'm2'])
  })

  it(CLEAN_311, cleanSessionKilledAfterPubrec)
})

describe('a QoS 2 publisher whose session starts clean and ends with its connection, on Redis', { timeout: 60_000 }, () => {
  const onRedis = useBrokerEnv(scope, 'warden-qos2-ends-redis-', 'redis')
  beforeEach(() => { store = onRedis })
  it(CLEAN_311, cleanSessionKilledAfterPubrec)
})
