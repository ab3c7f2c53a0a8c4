// Persistent sessions' queues on Warden's Redis store (store/redis-queues.ts) across the workers of a
// cluster: a session moving between workers keeps its queue, is never sent again what it acknowledged on
// another worker, and another subscriber of the same messages keeps them all; an acknowledgement reads
// nothing from Redis (aedes-persistence-redis read the message back for each one).
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import type { Packet } from 'mqtt-packet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCluster, type BrokerNode as Node, type Cluster } from '../helpers/cluster.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let redis: TestRedis
let cluster: Cluster
beforeAll(async () => {
  redis = await startRedis()
  cluster = await createCluster(redis, 'warden-redis-queues-')
})
afterAll(async () => {
  await cluster?.close()
  await redis?.stop()
})

const client = (node: Node, username: string, opts = {}): Promise<TestClient> => scope.client(username, opts, node)

/** how many times Redis has run each command so far */
function calls (): Map<string, number> {
  const out = execFileSync('redis-cli', ['-p', String(redis.port), 'info', 'commandstats'], { encoding: 'utf8' })
  return new Map([...out.matchAll(/cmdstat_(\S+):calls=(\d+)/g)].map((m) => [m[1] as string, Number(m[2])]))
}

const seq = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i))
const payloads = (c: TestClient): string[] => c.messages.map((m) => m.payload)

describe('persistent sessions\' queues on Redis across workers', () => {
  it('a persistent subscriber that moves between workers keeps its queue, and is not sent again what it acknowledged', async () => {
    const [a, b] = await Promise.all([cluster.startNode(), cluster.startNode()]) as [Node, Node]
    const mover = { clientId: 'mover', clean: false }
    const stay = await client(b, 'dashboard', { clientId: 'stay', clean: false })
    await subscribe(stay, 'sensors/sensor-1/#', 1)
    let sub = await client(a, 'dashboard', mover)
    await subscribe(sub, 'sensors/sensor-1/#', 1)
    const pub = await client(b, 'sensor-1')

    // live, on two workers: every acknowledgement answered without reading Redis
    const before = calls()
    for (const p of seq(0, 30)) await publish(pub, 'sensors/sensor-1/seq', p, { qos: 1 })
    await sub.waitFor((m) => m.payload === '29')
    await stay.waitFor((m) => m.payload === '29')
    expect(payloads(sub)).toEqual(seq(0, 30))
    const after = calls()
    expect((after.get('get') ?? 0) - (before.get('get') ?? 0)).toBe(0)

    // away: queued; back on the other worker: the queue, and nothing acknowledged on the first
    await sub.end()
    for (const p of seq(30, 60)) await publish(pub, 'sensors/sensor-1/seq', p, { qos: 1 })
    sub = await client(b, 'dashboard', mover)
    await sub.waitFor((m) => m.payload === '59')
    expect(payloads(sub)).toEqual(seq(30, 60))

    // and back on the first worker, which saw this session before: nothing old, the new ones (a message
    // published while the session's queue is being replayed may come twice, live and queued: QoS 1 allows it)
    await sub.end()
    sub = await client(a, 'dashboard', mover)
    for (const p of seq(60, 70)) await publish(pub, 'sensors/sensor-1/seq', p, { qos: 1 })
    await sub.waitFor((m) => m.payload === '69')
    expect([...new Set(payloads(sub))].sort((x, y) => Number(x) - Number(y))).toEqual(seq(60, 70))

    await stay.waitFor((m) => m.payload === '69')
    expect(payloads(stay)).toEqual(seq(0, 70))
  })

  it('a takeover by another worker counts the PUBACKs waiting unread on the first worker: nothing acknowledged comes again', async () => {
    const [a, b] = await Promise.all([cluster.startNode(), cluster.startNode()]) as [Node, Node]
    const old = scope.track(await rawSession(b.port, 'dashboard', 'taken', { clean: false }))
    old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/sensor-1/#', qos: 1 }] } as Packet)
    await old.next('suback')
    const pub = await client(a, 'sensor-1')
    for (const p of seq(0, 20)) await publish(pub, 'sensors/sensor-1/taken', p, { qos: 1 })
    const sent = (): Array<Packet & { messageId: number }> => old.packets.filter((p) => p.cmd === 'publish') as Array<Packet & { messageId: number }>
    while (sent().length < 20) await once(old.socket, 'data')

    // the worst order for the first worker: stopped, it gets the other worker's takeover request first and
    // the old connection's acknowledgements and DISCONNECT just after, and reads both when it goes on
    const watch = new Redis(redis.port)
    scope.defer(() => watch.disconnect())
    // asked on the first worker's own channel (warden:client-ids, U+0000, takeover, U+0000, its broker id)
    await watch.psubscribe('warden:client-ids\u0000takeover\u0000*')
    const asked = once(watch, 'pmessage')
    b.app.child.kill('SIGSTOP')
    scope.defer(() => b.app.child.kill('SIGCONT'))
    const next = client(a, 'dashboard', { clientId: 'taken', clean: false })
    await asked
    // in one write: with Nagle's algorithm (and the stopped worker's delayed ACK) all but the first would
    // still be on their way when it goes on
    old.socket.cork()
    for (const p of sent()) old.send({ cmd: 'puback', messageId: p.messageId } as Packet)
    old.send({ cmd: 'disconnect' } as Packet)
    old.socket.uncork()
    b.app.child.kill('SIGCONT')
    const sub = await next
    await old.closed()

    for (const p of seq(20, 25)) await publish(pub, 'sensors/sensor-1/taken', p, { qos: 1 })
    await sub.waitFor((m) => m.payload === '24')
    expect([...new Set(payloads(sub))]).toEqual(seq(20, 25))
  })
})
