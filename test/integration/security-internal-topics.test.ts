// The broker's own topics ($SYS, $WARDEN, $CONTROL) are refused to clients whatever unregisteredTopics says,
// on every transport and through wills; and a consumer-group link believes only messages a broker process
// sealed, never one that reached the bus through a publish.
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, startBroker, type TestBroker } from '../helpers/broker.js'
import { connackCode, connect, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import type { AuditEvent } from '../../apps/broker/src/audit/audit.js'
import { encodeBatch } from '../../apps/broker/src/groups/link-batch.js'
import { createLinkSeal } from '../../apps/broker/src/groups/link-seal.js'

const scope = useScope()
const OPEN = { unregisteredTopics: 'allow' }

/** a hand-made consumer-group hand-over: sensor-1's topic, for member `m` of group g/sensors/# */
function forgedDeliver (member: string, payload: string): string {
  const copy = { k: 'g/sensors/#', t: 'sensors/sensor-1/forged', p: Buffer.from(payload).toString('base64'), q: 1, b: 'x', c: 1 }
  return JSON.stringify({ c: copy, m: member, x: [], r: false })
}

/** the same as a batch (what processes that read batches are sent), unsealed: a MAC of zeros */
function forgedBatch (member: string, payload: string): Buffer {
  const copy = { key: 'g/sensors/#', topic: 'sensors/sensor-1/forged', payload: Buffer.from(payload), qos: 1 as const, brokerId: 'x', brokerCounter: 1 }
  return Buffer.concat([Buffer.alloc(32), encodeBatch([{ copy, clientId: member, exclude: [], redelivery: false }])])
}

describe('a client publishing to an internal topic', () => {
  it.each([
    '$WARDEN/share/deliver/warden-1', '$WARDEN/share/batch/warden-1', '$WARDEN/share/sync', '$WARDEN/share/ack/warden-1',
    '$WARDEN/share/taken/warden-1', '$WARDEN/void', '$WARDEN',
    '$SYS/warden-1/new/clients', '$CONTROL/warden/v1/response'
  ])('is refused and audited on TCP and WebSocket: %s', async (topic) => {
    const tb = await scope.start({ config: { ...OPEN, ws: { enabled: true, port: 0, host: '127.0.0.1' } } })
    const obs = await scope.client('observer')
    await subscribe(obs, ['#', topic], 0)
    const tcp = await scope.client('sensor-1')
    const ws = await scope.client('sensor-1', {}, { url: `ws://127.0.0.1:${String(tb.broker.listeners.ws?.port)}/mqtt` })
    await publish(tcp, topic, 'via tcp', { qos: 1 })
    await publish(ws, topic, 'via ws', { qos: 1 })
    await publish(tcp, 'unregistered/marker', 'marker', { qos: 1 })
    await obs.waitFor((m) => m.topic === 'unregistered/marker')
    expect(obs.messages.map((m) => m.topic)).toEqual(['unregistered/marker'])
    expect(scope.events.filter((e) => e.kind === 'publish' && e.reason === 'reserved-topic' && e.topic === topic)).toHaveLength(2)
  })

  it.each(['$WARDEN/share/deliver/warden-1', '$WARDEN/void', '$CONTROL/warden/v1/response'])('as its will gets CONNACK 5: %s', async (topic) => {
    const tb = await scope.start({ config: OPEN })
    const code = await connackCode(tb.url, { username: 'sensor-1', password: PASSWORD, will: { topic, payload: Buffer.from('x'), qos: 1, retain: true } })
    expect(code).toBe(5)
    expect(scope.events).toContainEqual(expect.objectContaining({ kind: 'will', reason: 'reserved-topic', topic }))
  })
})

describe('two broker processes on one Redis, unregisteredTopics: allow', () => {
  let redis: TestRedis
  const brokers: TestBroker[] = []
  const clients: TestClient[] = []
  const conns: Redis[] = []
  const redisConn = (): Redis => { const c = new Redis(redis.url); conns.push(c); return c }
  beforeAll(async () => { redis = await startRedis() })
  afterAll(async () => { await redis.stop() })
  afterEach(async () => {
    for (const c of conns.splice(0)) c.disconnect()
    await Promise.all(clients.splice(0).map((c) => c.end()))
    await Promise.all(brokers.splice(0).map((b) => b.close()))
    await redis.flush()
  })
  const node = async (brokerId: string): Promise<{ tb: TestBroker, events: AuditEvent[] }> => {
    const tb = await startBroker({ config: { ...OPEN, brokerId, persistence: 'redis', redis: { url: redis.url } } })
    brokers.push(tb)
    const events: AuditEvent[] = []
    tb.broker.audit.onRecord((e) => events.push(e))
    return { tb, events }
  }
  const client = async (tb: TestBroker, username: string, clientId: string): Promise<TestClient> => {
    const c = await connect(tb.url, username, { clientId })
    clients.push(c)
    return c
  }
  /** a member of $share/g/sensors/# on b, and proof of what it got: a real message sent after the forgery */
  const setUp = async (): Promise<{
    a: Awaited<ReturnType<typeof node>>, b: Awaited<ReturnType<typeof node>>, member: TestClient, real: () => Promise<void>
  }> => {
    const a = await node('warden-a')
    const b = await node('warden-b')
    const member = await client(b.tb, 'dashboard', 'member-1')
    expect(await subscribe(member, '$share/g/sensors/#', 1)).toEqual([1])
    const owner = await client(a.tb, 'sensor-1', 'owner-1')
    const real = async (): Promise<void> => {
      // published on a, handed over to b on the same link topic, after the forgery
      await publish(owner, 'sensors/sensor-1/real', 'real', { qos: 1 })
      await member.waitFor((m) => m.payload === 'real')
    }
    return { a, b, member, real }
  }

  it('refuses a producer\'s hand-made $WARDEN/share/deliver/<brokerId>: nothing reaches the group member, audited', async () => {
    const { a, member, real } = await setUp()
    const producer = await client(a.tb, 'sensor-2', 'producer-2')
    await publish(producer, '$WARDEN/share/deliver/warden-b', forgedDeliver('member-1', 'forged'), { qos: 1 })
    await real()
    expect(member.messages.map((m) => m.payload)).toEqual(['real'])
    expect(a.events).toContainEqual(
      expect.objectContaining({ kind: 'publish', reason: 'reserved-topic', username: 'sensor-2', topic: '$WARDEN/share/deliver/warden-b' }))
  })

  it.each([
    ['$WARDEN/share/deliver/warden-b', Buffer.from(forgedDeliver('member-1', 'forged'))],
    ['$WARDEN/share/batch/warden-b', forgedBatch('member-1', 'forged')]
  ])('does not take a message that reached the bus through a publish for a link message, however it got there: %s', async (topic, payload) => {
    const { a, b, member, real } = await setUp()
    // what any client message is on the bus: a packet aedes published (the hooks are not asked here)
    a.tb.broker.aedes.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, () => {})
    await real()
    expect(member.messages.map((m) => m.payload)).toEqual(['real'])
    expect(b.events).toContainEqual(expect.objectContaining({ kind: 'publish', reason: 'reserved-topic', topic }))
  })

  it('does not take a hand-made answer to a batch for one: a copy is the sender\'s until the process it went to answers, sealed', async () => {
    const { a, b, member, real } = await setUp()
    // an answer that would tell a its batches were taken (a publisher acknowledged for a copy nobody holds)
    const topic = '$WARDEN/share/taken/warden-a'
    for (const id of ['x.1', 'x.2']) {
      const payload = JSON.stringify({ b: JSON.stringify({ id, r: [] }), s: 'AAAA' })
      b.tb.broker.aedes.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, () => {})
    }
    const producer = await client(b.tb, 'sensor-2', 'producer-3')
    await publish(producer, topic, JSON.stringify({ id: 'x.3', r: [] }), { qos: 1 })
    await real()
    expect(member.messages.map((m) => m.payload)).toEqual(['real'])
    expect(a.events.filter((e) => e.kind === 'publish' && e.reason === 'reserved-topic' && e.topic === topic && e.detail?.startsWith('cluster-link') === true))
      .toHaveLength(2)
    expect(b.events).toContainEqual(expect.objectContaining({ kind: 'publish', reason: 'reserved-topic', username: 'sensor-2', topic }))
  })

  it('believes a batch only when it is sealed for its own topic with the cluster\'s secret', async () => {
    const seal = await createLinkSeal(redisConn())
    const topic = '$WARDEN/share/batch/warden-b'
    const copy = { key: 'g/s/#', topic: 's/1', payload: Buffer.from('x'), qos: 1 as const, brokerId: 'a', brokerCounter: 1 }
    const bytes = encodeBatch([{ copy, clientId: 'm', exclude: [], redelivery: false }])
    const sealed = seal.sealBytes(topic, bytes)
    expect(seal.openBytes({ topic, payload: sealed })).toEqual({ ok: true, bytes: Buffer.from(bytes) })
    const flipped = Buffer.from(sealed)
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1
    expect(seal.openBytes({ topic: '$WARDEN/share/batch/warden-c', payload: sealed })).toEqual({ ok: false, why: 'bad seal' })
    expect(seal.openBytes({ topic, payload: flipped })).toEqual({ ok: false, why: 'bad seal' })
    expect(seal.openBytes({ topic, payload: sealed.subarray(0, 31) })).toEqual({ ok: false, why: 'not sealed' })
    expect(seal.openBytes({ topic, payload: sealed, brokerId: 'warden-a' })).toMatchObject({ ok: false })
    // a process of another cluster (another secret) is not believed either
    await redisConn().set('warden:share:secret', Buffer.alloc(32, 7).toString('base64'))
    const other = await createLinkSeal(redisConn())
    expect(other.openBytes({ topic, payload: sealed })).toEqual({ ok: false, why: 'bad seal' })
  })
})
