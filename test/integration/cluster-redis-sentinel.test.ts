// Redis Sentinel (`redis.sentinels` + `redis.name`): brokers find the master through the sentinels, and when the
// master dies they follow the replica the sentinel promotes, with the registry, the sessions and their queues
// that had reached the replica.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import type { TestBroker } from '../helpers/broker.js'
import { get } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { replicaCaughtUp, startSentinels, type TestSentinels } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

let dir: string
let set: TestSentinels
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warden-sentinel-'))
  set = await startSentinels(dir)
})
afterAll(async () => {
  await set?.stop()
  await rm(dir, { recursive: true, force: true })
})
const scope = useScope()

const node = (brokerId: string): Promise<TestBroker> => scope.startAnother({
  config: { persistence: 'redis', redis: { sentinels: [{ host: '127.0.0.1', port: set.port }], name: set.name }, brokerId, log: { level: 'silent' } }
})

async function until (what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

describe('brokers on Redis Sentinel', () => {
  it('work through the master the sentinels name, and follow a failover with the sessions and queues the replica had', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const pub = await scope.client('sensor-1', { reconnectPeriod: 200 }, a)
    let sub = await scope.client('dashboard', { clientId: 'sentinel-keep', clean: false }, b)
    await subscribe(sub, 'sensors/#', 1)
    await publish(pub, 'sensors/sensor-1/t', 'before', { qos: 1 })
    await sub.waitFor((m) => m.payload.toString() === 'before')
    await sub.end()
    // queued for the offline session on the master (before each PUBACK), then on the replica: it has applied
    // every write the master had made
    for (const n of [1, 2, 3]) await publish(pub, 'sensors/sensor-1/t', `queued-${n}`, { qos: 1 })
    await replicaCaughtUp(set.master, set.replica)

    await set.master.kill()
    await until('the sentinel promotes the replica', async () => await set.masterPort() === set.replica.port)
    await until('both brokers ready again', async () =>
      (await get(a, '/readyz', { as: null })).status === 200 && (await get(b, '/readyz', { as: null })).status === 200)

    sub = await scope.client('dashboard', { clientId: 'sentinel-keep', clean: false }, b)
    for (const n of [1, 2, 3]) await sub.waitFor((m) => m.payload.toString() === `queued-${n}`)
    // the publisher's connection came back by itself; the bus between the workers too
    await until('the publisher reconnected', async () => pub.client.connected)
    await publish(pub, 'sensors/sensor-1/t', 'after', { qos: 1 })
    await sub.waitFor((m) => m.payload.toString() === 'after')
    // the registry was on the replica: an account and its topic still work
    const status = await get(a, '/api/v1/status')
    expect(status.body.registry.backend).toBe('redis')
    expect(status.body.topics).toBeGreaterThan(0)
  }, 60_000)
})

describe('configuration', () => {
  it('names the key: sentinels need the master\'s name, and a name needs sentinels', () => {
    const sentinels = [{ host: 'h', port: 4242 }]
    expect(() => parseConfig({ persistence: 'redis', redis: { sentinels } }, 'w.yaml')).toThrow(/redis\.name: is required with redis\.sentinels/)
    expect(() => parseConfig({ persistence: 'redis', redis: { url: 'redis://h', name: 'm' } }, 'w.yaml'))
      .toThrow(/redis\.name: applies only with redis\.sentinels/)
    expect(() => parseConfig({ persistence: 'redis', redis: {} }, 'w.yaml')).toThrow(/redis\.url: is required/)
    expect(() => parseConfig({ persistence: 'redis', redis: { sentinels: [{ host: 'h' }], name: 'm' } }, 'w.yaml')).toThrow(/redis\.sentinels/)
    const ok = parseConfig({ persistence: 'redis', redis: { sentinels: [{ host: 'h', port: 4242 }], name: 'm' } }, 'w.yaml')
    expect(ok.redis).toMatchObject({ sentinels: [{ host: 'h', port: 4242 }], name: 'm' })
  })
})
