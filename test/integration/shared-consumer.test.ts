// The consumer app as members of one group against a Warden broker: the stream is split, each member's
// summary shows its share, and together they have every message once.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { createLogger } from '../../packages/common/src/index.js'
import { validateConsumerConfig } from '../../apps/consumer/src/config.js'
import { createConsumer, type Consumer } from '../../apps/consumer/src/consumer.js'
import type { Summary } from '../../apps/consumer/src/stats.js'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { publish, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const logger = createLogger({ name: 'consumer-test', level: 'silent' })
const scope = useScope()
const closers: Array<() => Promise<void>> = []
const dirs: string[] = []

// the consumers close before the scope's clients and broker (after-hooks run last-registered first)
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function member (b: TestBroker, dir: string, instance: number): Promise<Consumer> {
  const c = createConsumer(validateConsumerConfig({
    broker: { url: b.url },
    username: 'observer',
    password: PASSWORD,
    clientId: `group-consumer-${instance}`,
    group: 'workers',
    subscriptions: ['devices/+/telemetry'],
    qos: 1,
    output: { stdout: false },
    summaryIntervalMs: 60_000,
    summaryFile: join(dir, `summary-${instance}.json`),
    reconnect: { minMs: 20, maxMs: 200 }
  }, 'test'), logger)
  closers.push(() => c.close())
  await c.ready
  return c
}

it('splits a device stream between two consumer instances; each summary gives its share, no gaps', async () => {
  const b = await scope.start({ config: { persistence: 'memory' } })
  const dir = mkdtempSync(join(tmpdir(), 'warden-group-consumer-'))
  dirs.push(dir)
  const consumers = [await member(b, dir, 0), await member(b, dir, 1)]
  const pub: TestClient = await scope.client('sensor-1')
  const total = 400
  const all = new Promise<void>((resolve) => {
    const check = (): void => { if (consumers.reduce((n, c) => n + c.stats().unique, 0) >= total) resolve() }
    for (const c of consumers) c.events.on('message', check)
  })
  for (let seq = 1; seq <= total; seq++) {
    await publish(pub, 'devices/sensor-1/telemetry', JSON.stringify({ deviceId: 'sensor-1', run: 'r1', seq, ts: Date.now() }), { qos: 1 })
  }
  await all
  const summaries = await Promise.all(consumers.map(async (c) => {
    const final = new Promise<Summary>((resolve) => c.events.once('summary', resolve))
    await c.close()
    return await final
  }))
  expect(summaries.reduce((n, s) => n + s.unique, 0)).toBe(total)
  for (const s of summaries) {
    expect(s).toMatchObject({ group: 'workers', gaps: 0, duplicates: 0, received: total / 2 })
    expect(s.share?.unique).toBe(total / 2)
    expect(s.share?.ratio).toBeGreaterThan(0.45)
    expect(s.share?.ratio).toBeLessThan(0.55)
  }
})
