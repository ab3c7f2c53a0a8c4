// The README's cluster command as printed — `WARDEN_INSTANCES=2 WARDEN_REDIS_URL=… npm start`, and with 3 — on the shipped
// config/warden.yaml, producer.yaml and consumer.yaml — with only the ports, the Redis URL, the data and log
// roots and PM2_HOME moved, through the variables the README documents. The shipped consumer subscribes to
// two filters in one SUBSCRIBE on a persistent session: on Redis that once never got its SUBACK, and this
// test's consumer (one filter) never saw it.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { prepare, type Deployment } from '../helpers/pm2.js'
import { waitUntil } from '../helpers/ports.js'
import { ROOT } from '../helpers/process.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

describe.each([2, 3])('WARDEN_INSTANCES=%i', (instances) => {
  let redis: TestRedis
  let d: Deployment

  beforeAll(async () => {
    redis = await startRedis()
    d = await prepare({ shipped: true, env: { WARDEN_INSTANCES: String(instances), WARDEN_REDIS_URL: redis.url } })
  }, 60_000)
  afterAll(async () => {
    await d?.destroy()
    await redis?.stop()
  }, 60_000)

  it(`runs the shipped configs: ${instances} broker workers, and a consumer summary with messages on both filters and 0 gaps`, async () => {
    const shipped = parse(await readFile(join(ROOT, 'config', 'consumer.yaml'), 'utf8')) as { subscriptions: string[] }
    expect(shipped.subscriptions).toEqual(['devices/+/telemetry', 'devices/+/status'])
    const res = await d.npmStart()
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    expect(res.stdout).toMatch(/^warden: started broker, producer, consumer/m)
    const workers = (await d.apps()).filter((a) => a.name === 'broker' && a.pm2_env.status === 'online')
    expect(workers.map((w) => w.pm2_env.exec_mode)).toEqual(Array(instances).fill('cluster_mode'))
    // the shipped fleet: 5 devices at 2 msg/s each; the summary is written every 10 s
    const s = await waitUntil(async () => {
      const s = await d.summary().catch(() => undefined)
      return s !== undefined && s.telemetry >= 50 && s.devices === 5 && s.gaps === 0 ? s : undefined
    }, 'the shipped consumer to count 50 telemetry messages from the 5 devices with no gap open', 90_000)
    // the retained online statuses came through the second filter
    expect(s.received).toBeGreaterThan(s.telemetry)
    expect(s.gaps).toBe(0)
  }, 180_000)
})
