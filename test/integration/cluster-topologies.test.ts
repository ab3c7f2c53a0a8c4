// Cluster mode as it is deployed: two and three broker processes on one private redis-server, and three on a
// private Sentinel set-up (a master, a replica, three sentinels). On each: the shipped consumer's two filters
// in one SUBSCRIBE of a persistent session; a persistent subscriber that moves from worker to worker keeps
// its queue (QoS 1 and 2, QoS 2 exactly once); and /metrics, asked of any worker, sums to the traffic sent.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { baseConfig } from '../helpers/broker.js'
import { createCluster, type BrokerNode, type Cluster } from '../helpers/cluster.js'
import { basic } from '../helpers/http.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { ROOT } from '../helpers/process.js'
import { parseExposition } from '../helpers/prometheus.js'
import { startRedis, startSentinels, type TestRedis, type TestSentinels } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

interface Topology { name: string, processes: number, sentinel: boolean }
const topologies: Topology[] = [
  { name: 'two broker processes on one Redis', processes: 2, sentinel: false },
  { name: 'three broker processes on one Redis', processes: 3, sentinel: false },
  { name: 'three broker processes on Redis Sentinel', processes: 3, sentinel: true }
]

/** every worker's series of `name` (labels `worker` and the ones given), summed */
function sum (text: string, name: string, labels: Record<string, string>): number {
  return parseExposition(text).samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0)
}

describe.each(topologies)('$name', ({ processes, sentinel }) => {
  let dir: string
  let redis: TestRedis | undefined
  let set: TestSentinels | undefined
  let cluster: Cluster
  let nodes: BrokerNode[] = []
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-topology-'))
    // the shipped consumer's second filter reads devices' status topics: registered as the shipped config does
    const topics = [...(await baseConfig()).topics as object[], { filter: 'devices/{username}/status', owners: ['{username}'] }]
    const base = { topics }
    if (sentinel) {
      set = await startSentinels(dir, 3)
      const where = { sentinels: set.ports.map((port) => ({ host: '127.0.0.1', port })), name: set.name }
      cluster = await createCluster(set.master, 'warden-topology-', { ...base, redis: where })
    } else {
      redis = await startRedis()
      cluster = await createCluster(redis, 'warden-topology-', base)
    }
  }, 60_000)
  afterEach(async () => {
    await cluster?.stopNodes()
    nodes = []
    const port = set !== undefined ? await set.masterPort() : redis?.port
    if (port !== undefined) {
      const r = new Redis({ port, host: '127.0.0.1' })
      try { await r.flushall() } finally { r.disconnect() }
    }
  })
  afterAll(async () => {
    await cluster?.close()
    await redis?.stop()
    await set?.stop()
    await rm(dir, { recursive: true, force: true })
  }, 30_000)

  const start = async (): Promise<BrokerNode[]> => {
    nodes = await Promise.all(Array.from({ length: processes }, async () => await cluster.startNode()))
    return nodes
  }
  const client = (node: BrokerNode, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> => scope.client(username, opts, node)

  it('a persistent session subscribing to the shipped consumer\'s filters in one SUBSCRIBE gets its SUBACK and both streams', async () => {
    const shipped = parse(await readFile(join(ROOT, 'config', 'consumer.yaml'), 'utf8')) as { subscriptions: string[], qos: 1 }
    const all = await start()
    const last = all[all.length - 1] as BrokerNode
    const consumer = await client(last, 'observer', { clientId: 'shipped-consumer', clean: false })
    expect(await subscribe(consumer, shipped.subscriptions, shipped.qos)).toEqual(shipped.subscriptions.map(() => shipped.qos))
    const device = await client(all[0] as BrokerNode, 'sensor-1')
    await publish(device, 'devices/sensor-1/telemetry', 't1', { qos: 1 })
    await publish(device, 'devices/sensor-1/status', 'online', { qos: 1, retain: true })
    await consumer.waitFor((m) => m.payload === 't1')
    await consumer.waitFor((m) => m.payload === 'online')
  })

  it('a persistent subscriber that moves from worker to worker keeps its queue: QoS 1 and 2, QoS 2 exactly once', async () => {
    const all = await start()
    const keep = { clientId: 'roaming', clean: false }
    let sub = await client(all[0] as BrokerNode, 'dashboard', keep)
    await subscribe(sub, 'sensors/#', 2)
    await sub.end()
    const seen: string[] = []
    for (let hop = 0; hop < all.length; hop++) {
      // published on another worker while the subscriber is away, picked up on the next one
      const from = all[(hop + 1) % all.length] as BrokerNode
      const device = await client(from, 'sensor-1')
      for (const qos of [1, 2] as const) {
        for (let i = 0; i < 5; i++) await publish(device, 'sensors/sensor-1/roam', `h${hop}-q${qos}-${i}`, { qos })
      }
      await device.end()
      sub = await client(all[(hop + 1) % all.length] as BrokerNode, 'dashboard', keep)
      await sub.waitFor((m) => m.payload === `h${hop}-q2-4`)
      await sub.waitFor((m) => m.payload === `h${hop}-q1-4`)
      seen.push(...sub.messages.map((m) => m.payload))
      await sub.end()
    }
    const expected = Array.from({ length: all.length }, (_, hop) => [1, 2].flatMap((qos) => Array.from({ length: 5 }, (_, i) => `h${hop}-q${qos}-${i}`))).flat()
    expect(expected.filter((p) => !seen.includes(p))).toEqual([])
    const q2 = seen.filter((p) => p.includes('-q2-'))
    expect(q2.length).toBe(new Set(q2).size)
  })

  it('/metrics asked of any worker sums, over the workers, to the traffic sent', async () => {
    const all = await start()
    const reader = await client(all[0] as BrokerNode, 'dashboard')
    await subscribe(reader, 'sensors/#', 1)
    const payloads: string[] = []
    for (const [i, node] of all.entries()) {
      const who = i % 2 === 0 ? 'sensor-1' : 'sensor-2'
      const device = await client(node, who)
      for (let k = 0; k < 4 + i; k++) {
        await publish(device, `sensors/${who}/m`, `${i}-${k}`, { qos: 1 })
        payloads.push(`${i}-${k}`)
      }
    }
    for (const p of payloads) await reader.waitFor((m) => m.payload === p)
    const sent = payloads.length
    expect(reader.messages).toHaveLength(sent)
    for (const node of all) {
      const res = await fetch(`${node.http}/metrics`, { headers: { authorization: basic('observer') } })
      const text = await res.text()
      expect(res.status).toBe(200)
      expect(sum(text, 'warden_cluster_workers', { state: 'answered' })).toBe(all.length)
      expect(sum(text, 'warden_messages_received_total', { qos: '1' })).toBe(sent)
      expect(sum(text, 'warden_messages_sent_total', { qos: '1' })).toBe(sent)
    }
  })
})
