// On `persistence: redis`, a message in the queues of two persistent subscribers is sent to each under a packet
// id of its own. The broker is SIGKILLed before either acknowledged it, then started again on the same Redis:
// each subscriber must be sent it again under the id it was first sent it under, DUP set (MQTT-4.4.0-1,
// MQTT-3.3.1-1), and a PUBREL again under its own id. The message record in Redis is one for all its
// subscribers; a packet id written over that one record (apps/broker/src/store/redis-queues.ts) was the id of
// whichever subscriber was sent it last, and the other was sent it again under that id: a QoS 2 receiver,
// which tells messages apart by packet id, took it for a second message (or, the id still held by a message it
// had not been released, dropped it).
import { Redis } from 'ioredis'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js'
import { packetWhere, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useBrokerEnv } from '../helpers/broker-env.js'
import { useScope } from '../helpers/scope.js'

type Pub = Packet & { cmd: 'publish', topic: string, payload: Buffer, qos: number, messageId: number, dup: boolean }

const scope = useScope()
const onRedis = useBrokerEnv(scope, 'warden-redis-ids-', 'redis')

async function startNode (): Promise<BrokerProcess> {
  const node = await startBrokerProcess({ ...onRedis.env() })
  scope.defer(() => node.app.stop('SIGKILL'))
  return node
}

const reader = async (node: BrokerProcess, id: string): Promise<RawClient> =>
  scope.track(await rawSession(node.port, 'dashboard', id, { clean: false }))

const publishOf = (payload: string) => (p: Packet): boolean => p.cmd === 'publish' && (p as Pub).payload.toString() === payload
const idOf = (p: Packet): number | undefined => (p as { messageId?: number }).messageId
const pubrelOf = (id: number) => (p: Packet): boolean => p.cmd === 'pubrel' && idOf(p) === id

/** sensor-1 publishes each payload in turn on sensors/sensor-1/ids at `qos`, its own handshake completed */
async function publish (node: BrokerProcess, qos: 1 | 2, ...payloads: string[]): Promise<void> {
  const s = scope.track(await rawSession(node.port, 'sensor-1', 'sensor-1'))
  let id = 1
  for (const payload of payloads) {
    const messageId = id++
    s.send({ cmd: 'publish', topic: 'sensors/sensor-1/ids', payload: Buffer.from(payload), qos, messageId, retain: false, dup: false } as Packet)
    if (qos === 1) {
      await packetWhere(s, (p) => p.cmd === 'puback' && idOf(p) === messageId)
    } else {
      await packetWhere(s, (p) => p.cmd === 'pubrec' && idOf(p) === messageId)
      s.send({ cmd: 'pubrel', messageId } as Packet)
      await packetWhere(s, (p) => p.cmd === 'pubcomp' && idOf(p) === messageId)
    }
  }
  s.destroy()
  await s.closed()
}

async function subscribe (c: RawClient): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] } as Packet)
  await c.next('suback')
}

/** queued messages' records and queues left in Redis */
async function leftovers (): Promise<string[]> {
  const r = new Redis(onRedis.redis.url)
  try { return (await r.keys('*')).filter((k) => k.startsWith('packet:') || k.startsWith('outgoing')).sort() } finally { r.disconnect() }
}

describe('a message queued for two persistent subscribers on redis, sent to each and not acknowledged, the broker SIGKILLed', () => {
  it('is sent again to each under the packet id it was first sent it under, DUP set; a PUBREL under its own id', async () => {
    const first = await startNode()
    // reader-a is sent (and completes) one message more than reader-b: their packet ids differ from then on
    const a = await reader(first, 'reader-a')
    await subscribe(a)
    await publish(first, 2, 'm0')
    const m0 = await packetWhere(a, publishOf('m0')) as Pub
    a.send({ cmd: 'pubrec', messageId: m0.messageId } as Packet)
    await packetWhere(a, pubrelOf(m0.messageId))
    a.send({ cmd: 'pubcomp', messageId: m0.messageId } as Packet)
    const b = await reader(first, 'reader-b')
    await subscribe(b)

    // m1: PUBREC sent, no PUBCOMP; m2: no PUBREC; m3 (QoS 1): no PUBACK; m4 (QoS 2) last: its packet id is
    // written (awaited) before it is sent, so everything written before it is in Redis once it arrives
    await publish(first, 2, 'm1', 'm2')
    await publish(first, 1, 'm3')
    await publish(first, 2, 'm4')
    const sent = new Map<RawClient, Map<string, number>>()
    for (const c of [a, b]) {
      const ids = new Map<string, number>()
      for (const m of ['m1', 'm2', 'm3', 'm4']) {
        const p = await packetWhere(c, publishOf(m)) as Pub
        expect(p.dup).toBe(false)
        ids.set(m, p.messageId)
      }
      c.send({ cmd: 'pubrec', messageId: ids.get('m1') } as Packet)
      await packetWhere(c, pubrelOf(ids.get('m1') as number))
      sent.set(c, ids)
    }
    const idsA = sent.get(a) as Map<string, number>
    const idsB = sent.get(b) as Map<string, number>
    for (const m of ['m1', 'm2', 'm3', 'm4']) expect(idsA.get(m)).not.toBe(idsB.get(m))

    await first.app.stop('SIGKILL')
    await Promise.all([a.closed(), b.closed()])

    const again = await startNode()
    for (const [id, ids] of [['reader-a', idsA], ['reader-b', idsB]] as const) {
      const c = await reader(again, id)
      await packetWhere(c, pubrelOf(ids.get('m1') as number))
      for (const m of ['m2', 'm3', 'm4']) {
        const p = await packetWhere(c, publishOf(m)) as Pub
        expect({ m, id: p.messageId, dup: p.dup }).toEqual({ m, id: ids.get(m), dup: true })
      }
      // each once, m1 only as its PUBREL
      expect(c.packets.filter((p) => p.cmd === 'publish').map((p) => (p as Pub).payload.toString()).sort()).toEqual(['m2', 'm3', 'm4'])
      expect(c.packets.filter((p) => p.cmd === 'pubrel').length).toBe(1)
      // the rest of each handshake: nothing is left of the messages in Redis
      c.send({ cmd: 'pubcomp', messageId: ids.get('m1') } as Packet)
      c.send({ cmd: 'puback', messageId: ids.get('m3') } as Packet)
      for (const m of ['m2', 'm4']) {
        const mid = ids.get(m) as number
        c.send({ cmd: 'pubrec', messageId: mid } as Packet)
        await packetWhere(c, pubrelOf(mid))
        c.send({ cmd: 'pubcomp', messageId: mid } as Packet)
      }
      c.send({ cmd: 'pingreq' } as Packet)
      await c.next('pingresp')
      c.destroy()
      await c.closed()
    }
    // a graceful stop writes what was not awaited (the acknowledgements' removals)
    await again.app.stop('SIGTERM')
    expect(await leftovers()).toEqual([])
  })
})
