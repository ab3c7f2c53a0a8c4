// Cluster mode: several broker processes on one Redis (aedes-persistence-redis + mqemitter-redis) act as one.
import { describe, expect, it } from 'vitest'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { useScope } from '../helpers/scope.js'

const { startNode } = useCluster()
const scope = useScope()
const client = (node: Node, username: string, opts = {}): Promise<TestClient> => scope.client(username, opts, node)

describe('two broker processes on one Redis', () => {
  // aedes 1.2 stores a SUBSCRIBE once per filter; on the Redis store the second call swallowed the first's
  // completion and the SUBACK never came (subscribe-once.ts). The shipped consumer config has two filters.
  it('answers a persistent session subscribing to two filters in one SUBSCRIBE, and delivers to both', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const sub = await client(b, 'dashboard', { clientId: 'keep-1', clean: false })
    expect(await subscribe(sub, ['sensors/sensor-1/a', 'sensors/sensor-1/b'], 1)).toEqual([1, 1])
    const pub = await client(a, 'sensor-1')
    await publish(pub, 'sensors/sensor-1/a', 'to-a', { qos: 1 })
    await publish(pub, 'sensors/sensor-1/b', 'to-b', { qos: 1 })
    await sub.waitFor((m) => m.payload === 'to-a')
    await sub.waitFor((m) => m.payload === 'to-b')
  })

  it('exchange QoS 0, 1 and 2 messages across processes', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const sub = await client(b, 'dashboard')
    await subscribe(sub, 'sensors/#', 2)
    const pub = await client(a, 'sensor-1')
    for (const qos of [0, 1, 2] as const) await publish(pub, `sensors/sensor-1/q${qos}`, `m${qos}`, { qos })
    for (const qos of [0, 1, 2]) {
      const m = await sub.waitFor((m) => m.payload === `m${qos}`)
      expect(m.qos).toBe(qos)
    }
  })

  it('deny a non-owner identically on every process, and retained messages are visible from every process', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const watchA = await client(a, 'observer')
    const watchB = await client(b, 'observer')
    await subscribe(watchA, 'sensors/#', 1)
    await subscribe(watchB, 'sensors/#', 1)
    const intruderA = await client(a, 'sensor-2')
    const intruderB = await client(b, 'sensor-2')
    await publish(intruderA, 'sensors/sensor-1/x', 'forged-a', { qos: 1, retain: true })
    await publish(intruderB, 'sensors/sensor-1/x', 'forged-b', { qos: 1, retain: true })
    const owner = await client(a, 'sensor-1')
    await publish(owner, 'sensors/sensor-1/r', 'retained', { qos: 1, retain: true })
    await watchA.waitFor((m) => m.payload === 'retained')
    await watchB.waitFor((m) => m.payload === 'retained')
    expect(watchA.messages.map((m) => m.payload)).toEqual(['retained'])
    expect(watchB.messages.map((m) => m.payload)).toEqual(['retained'])
    const late = await client(b, 'observer')
    await subscribe(late, 'sensors/sensor-1/#', 1)
    const r = await late.waitFor((m) => m.topic === 'sensors/sensor-1/r')
    expect(r).toMatchObject({ payload: 'retained', retain: true })
  })

  it('a persistent subscriber whose process is killed reconnects to another and receives its queued QoS 1 messages', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const opts = { clientId: 'cluster-durable', clean: false }
    const sub = await client(a, 'dashboard', opts)
    await subscribe(sub, 'sensors/#', 1)
    await a.app.stop('SIGKILL')
    await sub.closed()
    const pub = await client(b, 'sensor-1')
    for (let i = 0; i < 20; i++) await publish(pub, 'sensors/sensor-1/seq', String(i), { qos: 1 })
    const back = await client(b, 'dashboard', opts)
    await back.waitFor((m) => m.payload === '19')
    const got = new Set(back.messages.map((m) => Number(m.payload)))
    expect([...Array(20).keys()].filter((i) => !got.has(i))).toEqual([])
  })

  it('a client id connecting on a second process takes over the session on the first', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const first = await client(a, 'dashboard', { clientId: 'same-id', clean: false })
    await subscribe(first, 'sensors/#', 1)
    const second = await client(b, 'dashboard', { clientId: 'same-id', clean: false })
    await first.closed()
    expect(second.client.connected).toBe(true)
    // the session (its subscription) moved along
    const pub = await client(a, 'sensor-1')
    await publish(pub, 'sensors/sensor-1/t', 'after-takeover', { qos: 1 })
    await second.waitFor((m) => m.payload === 'after-takeover')
  })
})
