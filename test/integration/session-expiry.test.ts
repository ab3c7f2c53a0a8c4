// Bounded sessions: a persistent session and its queued messages are removed after an idle time, in the
// embedded store and in Redis; connected and recently seen sessions are kept.
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
