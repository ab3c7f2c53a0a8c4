// The consumer app as members of one group against a Warden broker: the stream is split, each member's
// summary shows its share (since it started, and over the summary window), and together they have every
// message once.
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

async function member (b: TestBroker, dir: string, instance: number, summaryIntervalMs = 60_000): Promise<Consumer> {
  const c = createConsumer(validateConsumerConfig({
    broker: { url: b.url },
    username: 'observer',
    password: PASSWORD,
    clientId: `group-consumer-${instance}`,
    group: 'workers',
    subscriptions: ['devices/+/telemetry'],
    qos: 1,
    output: { stdout: false },
    summaryIntervalMs,
    summaryFile: join(dir, `summary-${instance}.json`),
    reconnect: { minMs: 20, maxMs: 200 }
  }, 'test'), logger)
  closers.push(() => c.close())
  await c.ready
  return c
}

/** sensor-1's telemetry, seqs `from` to `to`, each acknowledged before the next */
async function send (pub: TestClient, from: number, to: number): Promise<void> {
  for (let seq = from; seq <= to; seq++) {
    await publish(pub, 'devices/sensor-1/telemetry', JSON.stringify({ deviceId: 'sensor-1', run: 'r1', seq, ts: Date.now() }), { qos: 1 })
  }
}

/** resolves once the members together have `total` distinct messages */
const allReceived = (consumers: Consumer[], total: number): Promise<void> => new Promise((resolve) => {
  const check = (): void => { if (consumers.reduce((n, c) => n + c.stats().unique, 0) >= total) resolve() }
  check()
  for (const c of consumers) c.events.on('message', check)
})

it('splits a device stream between two consumer instances; each summary gives its share, no gaps', async () => {
  const b = await scope.start({ config: { persistence: 'memory' } })
  const dir = mkdtempSync(join(tmpdir(), 'warden-group-consumer-'))
  dirs.push(dir)
  const consumers = [await member(b, dir, 0), await member(b, dir, 1)]
  const pub: TestClient = await scope.client('sensor-1')
  const total = 400
  const all = allReceived(consumers, total)
  await send(pub, 1, total)
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

it('gives a member\'s share over the summary window: about 1/3 once two more members join, where the share since its start lags', async () => {
  const b = await scope.start({ config: { persistence: 'memory' } })
  const dir = mkdtempSync(join(tmpdir(), 'warden-group-consumer-'))
  dirs.push(dir)
  // the first member alone gets every message
  const first = await member(b, dir, 0, 250)
  const pub: TestClient = await scope.client('sensor-1')
  await send(pub, 1, 300)
  await allReceived([first], 300)
  // two more join (their SUBACK: the broker counts them in the group), then the first member's window turns
  const others = [await member(b, dir, 1, 250), await member(b, dir, 2, 250)]
  await new Promise((resolve) => first.events.once('summary', resolve))
  const windows: Summary[] = []
  first.events.on('summary', (s) => windows.push(s))
  await send(pub, 301, 900)
  await allReceived([first, ...others], 900)
  const later = first.stats().unique - 300
  await first.close()
  const last = windows.at(-1) as Summary
  // since its start: 300 alone, then its part of the next 600 (a third, as the windows show): over a half
  expect(last.share?.unique).toBe(300 + later)
  expect(last.share?.ratio).toBeGreaterThan(0.5)
  // over the windows since the others joined, whatever their bounds: every message it got, one seq in three
  const sum = (k: 'unique' | 'seqSpan'): number => windows.reduce((n, s) => n + (s.shareWindow?.[k] ?? 0), 0)
  expect(sum('unique')).toBe(later)
  expect(Math.abs(sum('unique') / sum('seqSpan') - 1 / 3)).toBeLessThan(0.02)
  // and each window that saw ten messages or more says so by itself (one turn skipped moves a small one)
  const busy = windows.filter((s) => (s.shareWindow?.unique ?? 0) >= 10)
  expect(busy.length).toBeGreaterThan(0)
  for (const s of busy) expect(Math.abs((s.shareWindow?.ratio ?? 0) - 1 / 3)).toBeLessThan(0.05)
})
