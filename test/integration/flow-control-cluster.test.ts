// Flow control across workers: two broker processes on a private Redis. A subscriber on one worker that
// keeps reading, slower than the publishers on the other, slows them down (its worker tells the other over
// Redis) instead of being cut off; once it stops reading it holds no one any more.
import { expect, it } from 'vitest'
import { useCluster, type BrokerNode } from '../helpers/cluster.js'
import { maxOf, missing, publishPaced, type Pace } from '../helpers/flow.js'
import type { TestClient } from '../helpers/mqtt.js'
import { slowReader, type SlowReader } from '../helpers/slow-reader.js'
import { useScope } from '../helpers/scope.js'

/**
 * 3 × 100 messages of 1 KiB; the subscriber is congested from 25 unacknowledged (a quarter of
 * maxQueuedMessages), counted on its own worker whichever worker queued them
 */
const N = 100
const SIZE = 1024
const { startNode } = useCluster('warden-flow-', { limits: { maxQueuedMessages: 100 } })
/** 300 KB at 40 KiB/s: 7.5 s */
const RATE = 40 * 1024
const scope = useScope()

async function reader (node: BrokerNode, bytesPerSec: number): Promise<SlowReader> {
  const r = await slowReader(node.port, 'dashboard', 'slow-dash', { filter: 'sensors/#', qos: 1 }, bytesPerSec)
  scope.defer(() => r.destroy())
  return r
}

const publishers = async (node: BrokerNode): Promise<Array<[TestClient, string, string]>> => [
  [await scope.client('sensor-1', { clientId: 'pub-a' }, node), 'sensors/sensor-1/a', 'a'],
  [await scope.client('sensor-1', { clientId: 'pub-b' }, node), 'sensors/sensor-1/b', 'b'],
  [await scope.client('sensor-2', { clientId: 'pub-c' }, node), 'sensors/sensor-2/c', 'c']
]

it('fan-in across workers: the subscriber on B is never cut off and gets every message; the publishers on A wait for it', async () => {
  const [a, b] = await Promise.all([startNode(), startNode()])
  const r = await reader(b, RATE)
  const pubs = await publishers(a)
  const paces = await Promise.all(pubs.map(([c, topic, tag]) => publishPaced(c, topic, tag, N, SIZE)))
  await r.received(3 * N)
  expect(r.isClosed).toBe(false)
  expect(missing(r.payloads, ['a', 'b', 'c'], N)).toEqual([])
  // the publishers went at the reader's pace, their PUBACKs held on A (on their own they take under a second)
  expect(maxOf(paces.flatMap((p) => p.waits))).toBeGreaterThanOrEqual(100)
  expect(Math.min(...paces.map((p) => p.elapsed))).toBeGreaterThanOrEqual(3000)
}, 90_000)

it('a subscriber on B that stops reading holds the publishers on A no longer than maxHoldMs each, and then no more', async () => {
  const [a, b] = await Promise.all([startNode(), startNode()])
  const r = await reader(b, RATE)
  const pubs = await publishers(a)
  const paces: Pace[] = pubs.map(() => ({ waits: [], elapsed: 0 }))
  const state = { done: false }
  const all = Promise.all(pubs.map(([c, topic, tag], i) => publishPaced(c, topic, tag, N, SIZE, paces[i]))).finally(() => { state.done = true })
  // held: a PUBACK waited on A for the subscriber on B
  while (maxOf(paces.flatMap((p) => p.waits)) < 400 && !state.done) await new Promise((resolve) => setTimeout(resolve, 5))
  expect(state.done).toBe(false)
  r.freeze()
  const counted = paces.map((p) => p.waits.length)
  await all
  const after = paces.flatMap((p, i) => p.waits.slice(counted[i]))
  // 1000 ms, and what a loaded machine adds to a round trip through two processes and Redis
  expect(maxOf(after)).toBeLessThan(1000 + 1000)
  // it holds no one once it has drained nothing for a while (what then waits for it goes to its kernel
  // buffers: the cut-off at its bound is hardening-slow-consumers')
  await b.app.waitForLog((l) => l.msg === 'subscriber clear' && l.clientId === 'slow-dash')
}, 90_000)
