// Persistent sessions' queues on Warden's Redis store (store/redis-queues.ts) across the workers of a
// cluster: a session moving between workers keeps its queue, is never sent again what it acknowledged on
// another worker, and another subscriber of the same messages keeps them all; an acknowledgement reads
// nothing from Redis (aedes-persistence-redis read the message back for each one).
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCluster, type BrokerNode as Node, type Cluster } from '../helpers/cluster.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
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
})
