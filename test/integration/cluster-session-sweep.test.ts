// A session sweep that fails — Redis away past the store's retries, an index Redis cannot read — is logged and
// tried again at the next one, and the broker goes on serving. Run from a timer, its rejection was unhandled,
// and an unhandled rejection ends a Node process: a Redis outage of more than ~10 s (ioredis's 20 retries)
// during a sweep took the broker down.
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCluster, type Cluster } from '../helpers/cluster.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let redis: TestRedis
let cluster: Cluster
beforeAll(async () => {
  redis = await startRedis()
  cluster = await createCluster(redis, 'warden-session-sweep-', { sessions: { sweepIntervalMs: 100 } })
})
afterAll(async () => {
  await cluster?.close()
  await redis?.stop()
})

describe('session expiry on Redis', () => {
  it('a sweep that fails is logged and tried again; the broker keeps serving', async () => {
    const node = await cluster.startNode()
    // the sessions' deadlines (a sorted set) replaced by a string: every sweep's read fails (WRONGTYPE)
    execFileSync('redis-cli', ['-p', String(redis.port), 'set', 'warden:sessions:expiry', 'not-a-sorted-set'])
    const outcome = await Promise.race([
      node.app.waitForLog((l) => l.msg === 'session sweep failed: tried again at the next one').then(() => 'logged'),
      node.app.exited().then(({ code, signal }) => `exited (${String(code ?? signal)})`)
    ])
    expect(outcome).toBe('logged')

    execFileSync('redis-cli', ['-p', String(redis.port), 'del', 'warden:sessions:expiry'])
    const sub = await scope.client('dashboard', {}, node)
    await subscribe(sub, 'sensors/sensor-1/#', 1)
    await publish(await scope.client('sensor-1', {}, node), 'sensors/sensor-1/t', 'still-up', { qos: 1 })
    await sub.waitFor((m) => m.payload === 'still-up')
  })
})
