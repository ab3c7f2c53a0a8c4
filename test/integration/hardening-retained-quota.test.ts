// Retained quotas (limits.retained.*): past them a retained publish is delivered but not stored, audited;
// the store does not grow; the usage is read back from the store after a restart.
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const start = (retained: Record<string, number>): Promise<TestBroker> => scope.start({ config: { limits: { retained } } })

/** the retained messages a new subscriber to `filter` gets, by topic (ended after) */
async function retainedOf (filter: string, expected: number): Promise<string[]> {
  const c = await scope.client('observer')
  await subscribe(c, [filter, 'devices/admin/telemetry'], 1)
  await c.waitFor(() => c.messages.length >= expected, `${expected} retained`)
  // a marker published after the subscription arrives after every retained message
  const s = await scope.client('admin')
  await publish(s, 'devices/admin/telemetry', 'marker', { qos: 1 })
  await c.waitFor((m) => m.payload === 'marker')
  return c.messages.filter((m) => m.retain).map((m) => m.topic).sort()
}

async function sizeOf (dir: string): Promise<number> {
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size
  return n
}

it('per account: past maxMessagesPerUser a retained publish is delivered live, not stored, and audited', async () => {
  await start({ maxMessagesPerUser: 3 })
  const live = await scope.client('observer')
  await subscribe(live, ['sensors/#', 'devices/#'], 1)
  const s1 = await scope.client('sensor-1')
  for (let i = 1; i <= 5; i++) await publish(s1, `sensors/sensor-1/r${i}`, `v${i}`, { qos: 1, retain: true })
  await live.waitFor((m) => m.payload === 'v5')
  expect(live.messages.map((m) => m.payload)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5'])
  expect(scope.count('publish:retained-quota')).toBe(2)
  expect(scope.events.find((e) => e.reason === 'retained-quota')).toMatchObject({
    kind: 'publish', username: 'sensor-1', topic: 'sensors/sensor-1/r4',
    detail: '3 retained messages of this account (limits.retained.maxMessagesPerUser 3): delivered, not retained'
  })
  // replacing one's own retained message fits; another account has a quota of its own
  await publish(s1, 'sensors/sensor-1/r1', 'v1b', { qos: 1, retain: true })
  const s2 = await scope.client('sensor-2')
  await publish(s2, 'sensors/sensor-2/r', 'w', { qos: 1, retain: true })
  expect(await retainedOf('sensors/#', 4)).toEqual(['sensors/sensor-1/r1', 'sensors/sensor-1/r2', 'sensors/sensor-1/r3', 'sensors/sensor-2/r'])
  // clearing one frees its place
  await publish(s1, 'sensors/sensor-1/r2', '', { qos: 1, retain: true })
  await publish(s1, 'sensors/sensor-1/r4', 'v4b', { qos: 1, retain: true })
  expect(scope.count('publish:retained-quota')).toBe(2)
  expect(scope.tb.broker.retained.usage.of('sensor-1').count).toBe(3)
})

it('in all: maxBytes bounds every account together, and the data dir stops growing', async () => {
  const tb = await start({ maxBytes: 300_000 })
  const s1 = await scope.client('sensor-1')
  const s2 = await scope.client('sensor-2')
  const big = 'x'.repeat(100_000)
  await publish(s1, 'sensors/sensor-1/a', big, { qos: 1, retain: true })
  await publish(s2, 'sensors/sensor-2/a', big, { qos: 1, retain: true })
  await publish(s1, 'sensors/sensor-1/b', big, { qos: 1, retain: true })
  expect(scope.count('publish:retained-quota')).toBe(1) // the third does not fit: 300,000 counts topics too
  const before = await sizeOf(tb.dataDir)
  for (let i = 0; i < 20; i++) await publish(i % 2 === 0 ? s1 : s2, `sensors/sensor-${1 + (i % 2)}/more${i}`, big, { qos: 1, retain: true })
  expect(scope.count('publish:retained-quota')).toBe(21)
  // 20 × 100 kB refused: the store grew by less than one of them
  expect(await sizeOf(tb.dataDir) - before).toBeLessThan(100_000)
  expect(await retainedOf('sensors/#', 2)).toEqual(['sensors/sensor-1/a', 'sensors/sensor-2/a'])
})

it('reads the usage back from the store after a restart, and keeps refusing past the quota', async () => {
  await start({ maxMessagesPerUser: 2 })
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/a', 'a', { qos: 1, retain: true })
  await publish(s1, 'sensors/sensor-1/b', 'b', { qos: 1, retain: true })
  await s1.end()
  const again = await scope.restart()
  expect(again.broker.retained.usage.of('sensor-1')).toEqual({ count: 2, bytes: 2 * ('sensors/sensor-1/a'.length + 1) })
  const back: TestClient = await scope.client('sensor-1')
  await publish(back, 'sensors/sensor-1/c', 'c', { qos: 1, retain: true })
  expect(scope.count('publish:retained-quota')).toBe(1)
  expect(await retainedOf('sensors/#', 2)).toEqual(['sensors/sensor-1/a', 'sensors/sensor-1/b'])
})

it('a retained will past its account\'s quota is published, not stored', async () => {
  await start({ maxMessagesPerUser: 1 })
  const live = await scope.client('observer')
  await subscribe(live, 'sensors/#', 1)
  const s1 = await scope.client('sensor-1')
  await publish(s1, 'sensors/sensor-1/r', 'kept', { qos: 1, retain: true })
  const dying = await scope.client('sensor-1', {
    clientId: 'dying', will: { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1, retain: true }
  })
  ;(dying.client as unknown as { stream: { destroy: () => void } }).stream.destroy()
  await live.waitFor((m) => m.payload === 'offline')
  expect(scope.count('publish:retained-quota')).toBe(1)
  expect(await retainedOf('sensors/#', 1)).toEqual(['sensors/sensor-1/r'])
})

it('a retained publish refused by ownership takes no share of the quota', async () => {
  await start({ maxMessagesPerUser: 1, maxMessages: 1 })
  const s2 = await scope.client('sensor-2')
  await publish(s2, 'sensors/sensor-1/forged', 'x', { qos: 1, retain: true }) // not its topic: dropped
  await publish(s2, 'sensors/sensor-2/own', 'y', { qos: 2, retain: true })
  expect(scope.count('publish:not-owner')).toBe(1)
  expect(scope.count('publish:retained-quota')).toBe(0)
  expect(await retainedOf('sensors/#', 1)).toEqual(['sensors/sensor-2/own'])
})
