// Cluster mode as users run it: WARDEN_INSTANCES=2 puts the broker in pm2 cluster mode on Redis; a
// `pm2 reload broker` under steady QoS 1 traffic is a rolling restart that loses nothing.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { deploy, type Deployment } from '../helpers/pm2.js'
import { waitUntil } from '../helpers/ports.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

let redis: TestRedis
let d: Deployment

beforeAll(async () => {
  redis = await startRedis()
  d = await deploy({ devices: 3, rate: 20, qos: 1, env: { WARDEN_INSTANCES: '2', WARDEN_REDIS_URL: redis.url } })
}, 120_000)
afterAll(async () => {
  await d?.destroy()
  await redis?.stop()
}, 60_000)

it('runs two broker workers in pm2 cluster mode', async () => {
  const workers = await waitUntil(async () => {
    const w = (await d.apps()).filter((a) => a.name === 'broker' && a.pm2_env.status === 'online')
    return w.length === 2 ? w : undefined
  }, 'two online broker workers')
  expect(new Set(workers.map((w) => w.pid)).size).toBe(2)
  // a gap may open for a moment (out-of-order delivery) but must close: see three-processes.test.ts
  const s = await waitUntil(async () => {
    const s = await d.summary()
    return s.received >= 100 && s.gaps === 0 ? s : undefined
  }, 'traffic through the cluster with no gap open')
  expect(s.devices).toBe(3)
})

it('pm2 reload broker is a rolling restart with no message lost at QoS 1', async () => {
  const before = await d.summary()
  const oldPids = new Set((await d.apps()).filter((a) => a.name === 'broker').map((a) => a.pid))
  await d.pm2('reload', 'broker')
  const workers = (await d.apps()).filter((a) => a.name === 'broker')
  expect(workers.filter((w) => w.pm2_env.status === 'online' && !oldPids.has(w.pid))).toHaveLength(2)
  let seen = before
  const after = await waitUntil(async () => {
    seen = await d.summary()
    return seen.received >= before.received + 200 && seen.gaps === 0 ? seen : undefined
  }, 'consumer to keep receiving after the reload with no gap open', 60_000).catch(async (err: Error) => {
    // what the consumer and pm2 last said, for a failure seen only in a full run
    const apps = (await d.apps()).map((a) => `${a.name}:${a.pid}:${a.pm2_env.status}:${a.pm2_env.restart_time}`)
    throw new Error(`${err.message}; before ${JSON.stringify(before)}, last ${JSON.stringify(seen)}, apps ${apps.join(' ')}`)
  })
  expect(after.devices).toBe(3)
  const restarts = Object.fromEntries((await d.apps()).filter((a) => a.name !== 'broker').map((a) => [a.name, a.pm2_env.restart_time]))
  expect(restarts).toMatchObject({ producer: 0, consumer: 0 })
}, 90_000)
