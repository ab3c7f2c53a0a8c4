// The cluster bus's PUBLISHes of one event-loop turn go to Redis as one script call (apps/broker/src/store/
// redis-bus-batch.ts), not one command each: ioredis's own cost per command was the largest per-message cost
// left on `persistence: redis`. What must not change: every process gets every message, those of one publisher
// in the order it sent them, and an emit resolves only once Redis has taken its message (or fails with it).
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { createBusBatch } from '../../apps/broker/src/store/redis-bus-batch.js'
import { subscribe, type TestClient } from '../helpers/mqtt.js'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { useScope } from '../helpers/scope.js'

const cluster = useCluster('warden-bus-batch-')
const scope = useScope()
const client = (node: Node, username: string, opts = {}): Promise<TestClient> => scope.client(username, opts, node)

/** the commands clients sent Redis (MONITOR: not those a script ran), by name and first argument */
async function watchTopLevel (): Promise<Array<{ name: string, first: string }>> {
  const r = new Redis(cluster.redisUrl)
  const monitor = await r.monitor()
  scope.defer(async () => { monitor.disconnect(); r.disconnect() })
  const seen: Array<{ name: string, first: string }> = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push({ name: String(args[0]).toLowerCase(), first: String(args[1]) })
  })
  return seen
}

const N = 200

describe('the cluster bus on Redis', () => {
  it('sends a burst of messages in a few script calls, no PUBLISH each, and every process gets them in order', async () => {
    const [a, b] = await Promise.all([cluster.startNode(), cluster.startNode()])
    const far = await client(b, 'dashboard')
    const near = await client(a, 'dashboard')
    await subscribe(far, 'sensors/sensor-1/burst', 1)
    await subscribe(near, 'sensors/sensor-1/burst', 1)
    const pub = await client(a, 'sensor-1')
    const seen = await watchTopLevel()
    // sent without waiting for each PUBACK: many arrive in one read, and are handled in one turn
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      await new Promise<void>((resolve, reject) => {
        pub.client.publish('sensors/sensor-1/burst', String(i), { qos: 1 }, (err) => err ? reject(err) : resolve())
      })
    }))
    for (const c of [far, near]) await c.waitFor((m) => m.payload === String(N - 1))
    const order = Array.from({ length: N }, (_, i) => String(i))
    expect(far.messages.map((m) => m.payload)).toEqual(order)
    expect(near.messages.map((m) => m.payload)).toEqual(order)
    expect(seen.filter((c) => c.name === 'publish' && c.first === 'sensors/sensor-1/burst')).toEqual([])
    const calls = seen.filter((c) => c.name === 'evalsha' || c.name === 'eval').length
    expect(calls).toBeGreaterThan(0)
    expect(calls).toBeLessThan(N / 2)
  })
})

describe('createBusBatch', () => {
  it('sends the messages of one turn in order, at most 512 a call, and resolves each once Redis has it', async () => {
    const conn = new Redis(cluster.redisUrl)
    const sub = new Redis(cluster.redisUrl)
    scope.defer(async () => { conn.disconnect(); sub.disconnect() })
    await sub.subscribe('bus/test')
    const got: string[] = []
    sub.on('message', (_channel: string, message: string) => { got.push(message) })
    const batch = createBusBatch(conn)
    const sent = Array.from({ length: 600 }, (_, i) => String(i))
    await Promise.all(sent.map(async (m) => await batch.publish('bus/test', Buffer.from(m))))
    expect(batch.stats).toEqual({ batches: 2, messages: 600 })
    // a PING sent after the publishes is answered after Redis has sent them to this subscriber
    await sub.ping()
    expect(got).toEqual(sent)
  })

  it('fails every message of a call Redis never took', async () => {
    const conn = new Redis(cluster.redisUrl)
    scope.defer(() => { conn.disconnect() })
    await conn.ping()
    const batch = createBusBatch(conn)
    const both = [batch.publish('bus/test', Buffer.from('x')), batch.publish('bus/test', Buffer.from('y'))]
    // before the call is sent (at the end of this turn): closed by hand, ioredis fails what it is given next
    conn.disconnect()
    const results = await Promise.allSettled(both)
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
  })
})
