// Consumer groups across two broker processes on one Redis: membership and the choice of member are
// shared, so a group spread over both processes still gets each message once.
import { afterEach, describe, expect, it } from 'vitest'
import { connectStalled, payloads, publishStream, receivedTogether, tally, type StalledMember } from '../helpers/groups.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useCluster, type BrokerNode as Node } from '../helpers/cluster.js'
import { useScope } from '../helpers/scope.js'

const { startNode } = useCluster('warden-shared-cluster-')
const scope = useScope()
const client = (node: Node, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, node)
const stalled: StalledMember[] = []
// before the clients end and the nodes stop (hooks registered later run first)
afterEach(async () => { await Promise.all(stalled.splice(0).map((s) => s.kill())) })

async function member (node: Node, clientId: string, filter: string, qos: 0 | 1 | 2): Promise<TestClient> {
  const c = await client(node, 'dashboard', { clientId })
  expect(await subscribe(c, filter, qos)).toEqual([qos])
  return c
}

describe('a consumer group spread over two broker processes', () => {
  it('gets each QoS 2 message once, balanced, whichever process it was published on; an ordinary subscriber gets all', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const group = [
      await member(a, 'wa-0', '$share/workers/sensors/#', 2),
      await member(a, 'wa-1', '$share/workers/sensors/#', 2),
      await member(b, 'wb-0', '$share/workers/sensors/#', 2),
      await member(b, 'wb-1', '$share/workers/sensors/#', 2)
    ]
    const plain = await client(b, 'observer')
    await subscribe(plain, 'sensors/#', 2)
    const pubA = await client(a, 'sensor-1')
    const pubB = await client(b, 'sensor-2')
    const n = 1000
    await Promise.all([
      publishStream(pubA, 'sensors/sensor-1/t', n, 2, 'a'),
      publishStream(pubB, 'sensors/sensor-2/t', n, 2, 'b')
    ])
    await receivedTogether(group, 2 * n)
    await receivedTogether([plain], 2 * n)
    const expected = [...payloads(n, 'a'), ...payloads(n, 'b')]
    const t = tally(group, expected)
    expect(t.missing).toEqual([])
    expect(t.duplicates).toBe(0)
    for (const m of group) expect(Math.abs(m.messages.length - n / 2)).toBeLessThanOrEqual(n / 2 * 0.1)
    expect(tally([plain], expected)).toMatchObject({ missing: [], duplicates: 0 })
  })

  it('gives two groups on the same filter, each spread over both processes, the full stream each', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const x = [await member(a, 'x-0', '$share/x/sensors/#', 1), await member(b, 'x-1', '$share/x/sensors/#', 1)]
    const y = [await member(b, 'y-0', '$share/y/sensors/#', 1), await member(a, 'y-1', '$share/y/sensors/#', 1)]
    const pub = await client(a, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 300, 1)
    await receivedTogether(x, 300)
    await receivedTogether(y, 300)
    for (const g of [x, y]) expect(tally(g, payloads(300))).toMatchObject({ missing: [], duplicates: 0 })
  })

  it('hands what a member killed on one process had not acknowledged to a member on the other', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const s = await connectStalled(b.port, 'dashboard', 'stalls', '$share/g/sensors/#', 2)
    stalled.push(s)
    const healthy = await member(a, 'healthy', '$share/g/sensors/#', 2)
    const pub = await client(a, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 200, 2)
    await s.holding(100)
    await s.kill()
    await receivedTogether([healthy], 200)
    expect(tally([healthy], payloads(200))).toMatchObject({ missing: [], duplicates: 0 })
  })

  it('keeps messages for a persistent member while it is away, for whichever process it comes back to', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    const opts = { clientId: 'durable-worker', clean: false }
    const m = await client(a, 'dashboard', opts)
    await subscribe(m, '$share/g/sensors/#', 1)
    await m.end()
    const pub = await client(a, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 50, 1)
    const back = await client(b, 'dashboard', opts)
    await receivedTogether([back], 50)
    expect(tally([back], payloads(50))).toMatchObject({ missing: [], duplicates: 0 })
    await publish(pub, 'sensors/sensor-1/t', 'live', { qos: 1 })
    await back.waitFor((x) => x.payload === 'live')
  })

  it('refuses a $share filter the client may not read on every process', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()])
    for (const node of [a, b]) {
      const c = await client(node, 'dashboard')
      expect(await subscribe(c, '$share/g/private/#', 1)).toEqual([128])
    }
  })
})
