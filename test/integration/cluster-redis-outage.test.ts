// Redis fails under a cluster: killed (SIGKILL, AOF with appendfsync always) for 5 s during QoS 1 and QoS 2 load, then
// started again on the same data. No broker fails; both report not ready meanwhile and refuse new connections
// with "server unavailable" (audited); every message acknowledged to its publisher reaches the persistent
// subscriber once Redis is back; and a broker can still be shut down while Redis is away.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { stringify } from 'yaml'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { baseConfig, PASSWORD, type TestBroker } from '../helpers/broker.js'
import { startBrokerProcess } from '../helpers/broker-process.js'
import { get } from '../helpers/http.js'
import { connackCode, subscribe } from '../helpers/mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { PING_INTERVAL_MS } from '../../apps/broker/src/store/redis-health.js'

let redis: TestRedis
let aofDir: string
beforeAll(async () => {
  aofDir = await mkdtemp(join(tmpdir(), 'warden-aof-'))
  redis = await startRedis({ aof: aofDir })
})
afterAll(async () => {
  await redis?.stop()
  await rm(aofDir, { recursive: true, force: true })
})
// registered before the scope's: runs after it, once the test's brokers are closed (and Redis is back)
afterEach(async () => {
  await redis.restart().catch(() => {})
  await redis.flush()
})
const scope = useScope()

const node = (brokerId: string): Promise<TestBroker> =>
  scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId, log: { level: 'silent' } } })
const mqttUrl = (b: TestBroker): string => `mqtt://127.0.0.1:${b.port}`

/** polls /readyz (the probe an orchestrator polls) until it answers `status`; fails after `ms` */
async function readyzBecomes (b: TestBroker, status: number, ms = 5 * PING_INTERVAL_MS): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const r = await get(b, '/readyz', { as: null })
    if (r.status === status) return
    if (Date.now() > deadline) throw new Error(`/readyz stayed ${r.status}, expected ${status}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('Redis killed for 5 s under QoS 1 and QoS 2 load', () => {
  it('holds what was sent, refuses new connections meanwhile, and delivers every acknowledged message once it is back', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const sub = await scope.client('dashboard', { clientId: 'outage-keep', clean: false, reconnectPeriod: 200 }, b)
    await subscribe(sub, 'sensors/#', 1)
    const got = new Set<number>()
    sub.client.on('message', (_t, p) => got.add(Number(p.toString())))
    // QoS 2: a subscriber of its own at QoS 2, so that a duplicate would show
    const sub2 = await scope.client('dashboard', { clientId: 'outage-keep-q2', clean: false, reconnectPeriod: 200 }, a)
    await subscribe(sub2, 'sensors/sensor-2/#', 2)
    const got2: number[] = []
    sub2.client.on('message', (_t, p) => got2.push(Number(p.toString())))
    const pub = await scope.client('sensor-1', { reconnectPeriod: 200 }, a)
    const pub2 = await scope.client('sensor-2', { reconnectPeriod: 200 }, b)
    const acked = new Set<number>()
    const acked2 = new Set<number>()
    const load = { stop: false }
    scope.defer(async () => { load.stop = true; await redis.restart() })
    // a device: one message at a time, the next once the last is acknowledged (QoS 1) or completed (QoS 2)
    const loop = async (c: typeof pub, topic: string, qos: 1 | 2, done: Set<number>): Promise<void> => {
      let next = 0
      while (!load.stop) {
        const n = next++
        await new Promise<void>((resolve) => {
          c.client.publish(topic, String(n), { qos }, (err) => { if (err == null) done.add(n); resolve() })
        })
      }
    }
    const device = Promise.all([loop(pub, 'sensors/sensor-1/load', 1, acked), loop(pub2, 'sensors/sensor-2/load', 2, acked2)])
    while (acked.size < 50) await new Promise((resolve) => setTimeout(resolve, 20))

    await redis.kill()
    const down = Date.now()
    await Promise.all([readyzBecomes(a, 503), readyzBecomes(b, 503)])
    // a new device is told to come back later, in its own protocol's words, and the refusal is audited
    expect(await connackCode(mqttUrl(a), { username: 'sensor-2', password: PASSWORD, clientId: 'late-v3' })).toBe(3)
    expect(await connackCode(mqttUrl(b), { username: 'sensor-2', password: PASSWORD, clientId: 'late-v5', protocolVersion: 5 })).toBe(0x88)
    expect((a.broker.audit.counts.get('connect:store-unavailable') ?? 0) + (b.broker.audit.counts.get('connect:store-unavailable') ?? 0)).toBe(2)
    const ackedWhileDown = acked.size
    while (Date.now() - down < 5000) await new Promise((resolve) => setTimeout(resolve, 100))
    await redis.restart()
    await Promise.all([readyzBecomes(a, 200), readyzBecomes(b, 200)])
    expect(await connackCode(mqttUrl(a), { username: 'sensor-2', password: PASSWORD, clientId: 'back-v3' })).toBe(0)
    // the load goes on after the outage
    const resumedAt = acked.size
    while (acked.size < resumedAt + 50) await new Promise((resolve) => setTimeout(resolve, 20))
    load.stop = true
    await device
    const deadline = Date.now() + 15_000
    const delivered = (): boolean => [...acked].every((n) => got.has(n)) && [...acked2].every((n) => got2.includes(n))
    while (!delivered() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    // acknowledged, delivered, lost = 0; at QoS 2 no duplicate
    expect([...acked].filter((n) => !got.has(n))).toEqual([])
    expect([...acked2].filter((n) => !got2.includes(n))).toEqual([])
    expect(got2.length).toBe(new Set(got2).size)
    expect(acked2.size).toBeGreaterThan(0)
    expect(ackedWhileDown).toBeGreaterThanOrEqual(50)
    expect(sub.client.connected && pub.client.connected && pub2.client.connected).toBe(true)
  }, 60_000)

  it('a broker shuts down within seconds while Redis is away', async () => {
    const a = await node('a')
    await scope.client('sensor-1', {}, a)
    await redis.kill()
    await readyzBecomes(a, 503)
    const t0 = Date.now()
    await a.close()
    expect(Date.now() - t0).toBeLessThan(15_000)
  }, 30_000)

  it('a broker process lives through it: it logs the outage once, is not ready meanwhile, and ready again after', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-outage-'))
    scope.defer(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'warden.yaml')
    await writeFile(file, stringify({ ...(await baseConfig()), persistence: 'redis', redis: { url: redis.url } }))
    const node = await startBrokerProcess({ WARDEN_CONFIG: file, WARDEN_DATA_DIR: join(dir, 'data') })
    scope.defer(() => node.app.stop('SIGKILL'))
    const readyz = async (): Promise<number> => (await fetch(node.http + '/readyz')).status
    const sub = await scope.client('dashboard', { clientId: 'proc-keep', clean: false, reconnectPeriod: 200 }, node)
    await subscribe(sub, 'sensors/#', 1)
    await redis.kill()
    await node.app.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis is unreachable'))
    expect(await readyz()).toBe(503)
    await redis.restart()
    await node.app.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis is reachable again'))
    expect(await readyz()).toBe(200)
    expect(node.app.child.exitCode).toBeNull()
    // the outage is said once, not once per failed reconnect or per connection
    expect(node.app.output.filter((l) => l.includes('Redis is unreachable'))).toHaveLength(1)
    expect(node.app.stderr.filter((l) => l.includes('Unhandled error event'))).toEqual([])
  }, 30_000)
})
