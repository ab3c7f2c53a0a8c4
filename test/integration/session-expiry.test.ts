// Bounded sessions: a persistent session and its queued messages are removed after an idle time, in the
// embedded store and in Redis; connected and recently seen sessions are kept; the idle times written by the
// builds before MQTT 5 session expiry are read as deadlines.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis?.stop() })

const EXPIRY = 1000
const opts = { clientId: 'expiring-dash', clean: false }

describe.each(['level', 'redis'] as const)('with persistence %s', (persistence) => {
  const start = async (): Promise<TestBroker> => {
    if (persistence === 'redis') await redis.flush()
    return await scope.start({
      config: {
        persistence,
        ...(persistence === 'redis' ? { redis: { url: redis.url } } : {}),
        // swept by hand in these tests, with a clock moved forward
        sessions: { expiryMs: EXPIRY, sweepIntervalMs: 3_600_000 }
      }
    })
  }

  it('removes an idle session and its queued messages, and keeps a recent one', async () => {
    const tb = await start()
    const dash = await scope.client('dashboard', opts)
    await subscribe(dash, 'sensors/#', 1)
    await dash.end()
    const s1 = await scope.client('sensor-1')
    await publish(s1, 'sensors/sensor-1/x', 'queued', { qos: 1 })
    expect(await tb.broker.sessions.sweep(Date.now())).toEqual([]) // not idle long enough yet
    expect(await tb.broker.sessions.sweep(Date.now() + 2 * EXPIRY)).toEqual(['expiring-dash'])
    const back = await scope.client('dashboard', opts)
    expect(back.client.connected).toBe(true)
    await subscribe(back, 'sensors/#', 1)
    await publish(s1, 'sensors/sensor-1/x', 'marker', { qos: 1 })
    await back.waitFor((m) => m.payload === 'marker')
    expect(back.messages.map((m) => m.payload)).toEqual(['marker'])
  })

  it('never expires a connected session', async () => {
    const tb = await start()
    const dash = await scope.client('dashboard', opts)
    await subscribe(dash, 'sensors/#', 1)
    expect(await tb.broker.sessions.sweep(Date.now() + 100 * EXPIRY)).toEqual([])
    const s1 = await scope.client('sensor-1')
    await publish(s1, 'sensors/sensor-1/x', 'still-here', { qos: 1 })
    await dash.waitFor((m) => m.payload === 'still-here')
  })
})

it('remembers idle sessions across a restart of a level broker', async () => {
  await scope.start({ config: { sessions: { expiryMs: EXPIRY, sweepIntervalMs: 3_600_000 } } })
  const dash = await scope.client('dashboard', opts)
  await subscribe(dash, 'sensors/#', 1)
  await dash.end()
  const tb = await scope.restart()
  expect(await tb.broker.sessions.sweep(Date.now() + 2 * EXPIRY)).toEqual(['expiring-dash'])
})

describe.each(['level', 'redis'] as const)('upgrade from the idle index of builds before MQTT 5 session expiry (%s)', (persistence) => {
  it('an idle time kept by the old build becomes a deadline: a session idle too long goes at start, a recent one stays', async () => {
    if (persistence === 'redis') await redis.flush()
    const config = {
      persistence, ...(persistence === 'redis' ? { redis: { url: redis.url } } : {}), sessions: { expiryMs: 60_000, sweepIntervalMs: 3_600_000 }
    }
    await scope.start({ config })
    for (const clientId of ['old-idle', 'recent-idle']) {
      const c = await scope.client('dashboard', { clientId, clean: false })
      await subscribe(c, 'sensors/#', 1)
      await c.end()
    }
    const s1 = await scope.client('sensor-1')
    await publish(s1, 'sensors/sensor-1/x', 'queued', { qos: 1 })
    await s1.end()
    const now = Date.now()
    // what the old build wrote: when each went idle
    const legacy = { 'old-idle': now - 120_000, 'recent-idle': now }
    await scope.restart({
      whileStopped: async (dataDir) => {
        if (persistence === 'level') {
          await writeFile(join(dataDir, 'sessions-expiry.json'), '{}')
          await writeFile(join(dataDir, 'sessions-idle.json'), JSON.stringify(legacy))
          return
        }
        const r = new Redis(redis.url)
        try {
          await r.del('warden:sessions:expiry')
          await r.zadd('warden:sessions:idle', legacy['old-idle'], 'old-idle', legacy['recent-idle'], 'recent-idle')
        } finally { r.disconnect() }
      }
    })
    const old = await scope.client('dashboard', { clientId: 'old-idle', clean: false })
    expect(old.client.connected).toBe(true)
    const recent = await scope.client('dashboard', { clientId: 'recent-idle', clean: false })
    await recent.waitFor((m) => m.payload === 'queued')
    await subscribe(old, 'sensors/#', 1)
    const s2 = await scope.client('sensor-1')
    await publish(s2, 'sensors/sensor-1/x', 'marker', { qos: 1 })
    await old.waitFor((m) => m.payload === 'marker')
    expect(old.messages.map((m) => m.payload)).toEqual(['marker'])
  })
})
