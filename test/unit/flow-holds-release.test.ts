// Flow control's holds let a cleared subscriber's held publishes go a slice at a time, oldest first, so that the
// subscriber is seen crossing its high-water mark again before much more is on its way to it. Let go at once,
// what ten pipelining publishers had waiting (~1 MB) was past the flow stage before any of it reached the
// subscriber's socket, and a reader was cut off at 2 MiB (flow-control-fan-in failed so in CI).
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { Holds, RELEASE_MS, type Reach } from '../../apps/broker/src/flow/holds.js'
import { releaseSlice } from '../../apps/broker/src/flow/flow-control.js'

const KEY = 'broker-a\u0000slow-reader'
const MSG = 4096
/** ten 4 KiB messages a slice */
const SLICE = { bytes: 10 * MSG, publishes: 256 }
const MAX_HOLD_MS = 1000

let h: Holds
beforeEach(() => {
  vi.useFakeTimers()
  h = new Holds(MAX_HOLD_MS, undefined, SLICE)
})
afterEach(() => {
  h.close()
  vi.useRealTimers()
})

/** holds `n` publishes on sensors/<i>; returns the order they went on in, and whether each was held */
function holdMany (n: number, from = 0, topic = (i: number): string => `sensors/${i}`): { gone: number[], held: boolean[] } {
  const out = { gone: [] as number[], held: [] as boolean[] }
  for (let i = from; i < from + n; i++) {
    h.hold(topic(i), MSG, (held) => { out.gone.push(i); out.held.push(held) })
  }
  return out
}

it('a cleared subscriber lets what it held go a slice at a time, in the order held', () => {
  h.set(KEY, [['sensors/#']], 60_000)
  const p = holdMany(100)
  expect(p.gone).toEqual([])
  h.clear(KEY)
  expect(p.gone).toHaveLength(10)
  vi.advanceTimersByTime(RELEASE_MS)
  expect(p.gone).toHaveLength(20)
  vi.advanceTimersByTime(8 * RELEASE_MS)
  expect(p.gone).toEqual(Array.from({ length: 100 }, (_, i) => i))
  expect(p.held.every(Boolean)).toBe(true)
  expect(h.stats).toMatchObject({ held: 100, timedOut: 0 })
  expect(h.congested).toEqual([])
  // the line has ended: a new publish goes at once
  const next = holdMany(1, 100)
  expect(next.held).toEqual([false])
})

it('what the subscriber would receive waits behind its line while it is let go; other topics go at once', () => {
  h.set(KEY, [['sensors/#']], 60_000)
  const before = holdMany(30)
  h.clear(KEY)
  const after = holdMany(5, 30)
  const other = holdMany(1, 0, () => 'lights/1')
  expect(other.held).toEqual([false])
  expect(after.gone).toEqual([])
  vi.advanceTimersByTime(2 * RELEASE_MS)
  expect(before.gone).toHaveLength(30)
  expect(after.gone).toEqual([])
  vi.advanceTimersByTime(RELEASE_MS)
  expect(after.gone).toEqual([30, 31, 32, 33, 34])
  expect(after.held.every(Boolean)).toBe(true)
})

it('congested again while its line is let go: the rest waits again, from the next publish on', () => {
  h.set(KEY, [['sensors/#']], 60_000)
  const gone: number[] = []
  for (let i = 0; i < 50; i++) {
    h.hold(`sensors/${i}`, MSG, () => {
      gone.push(i)
      // the fourth one let go takes the subscriber past its high-water mark again (its write, at once)
      if (i === 3) h.set(KEY, [['sensors/#']], 60_000)
    })
  }
  h.clear(KEY)
  expect(gone).toEqual([0, 1, 2, 3])
  expect(h.congested).toEqual([KEY])
  vi.advanceTimersByTime(10 * RELEASE_MS)
  expect(gone).toHaveLength(4)
  h.clear(KEY)
  vi.advanceTimersByTime(5 * RELEASE_MS)
  expect(gone).toEqual(Array.from({ length: 50 }, (_, i) => i))
})

it('an announcement that expires counts as cleared: its line goes a slice at a time too', () => {
  h.set(KEY, [['sensors/#']], 150)
  const p = holdMany(40)
  // the sweep runs every 100 ms: the announcement is seen expired at 200
  vi.advanceTimersByTime(200)
  expect(p.gone).toHaveLength(10)
  vi.advanceTimersByTime(3 * RELEASE_MS)
  expect(p.gone).toHaveLength(40)
})

it('a publish still held by another congested subscriber when the line reaches it goes on after maxHoldMs', () => {
  const slow = new Holds(MAX_HOLD_MS, undefined, { bytes: MSG, publishes: 1 })
  try {
    slow.set(KEY, [['sensors/#']], 60_000)
    const gone: number[] = []
    for (let i = 0; i < 3; i++) slow.hold(`sensors/${i}`, MSG, () => gone.push(i))
    slow.set('broker-a\u0000other', [['sensors/2']], 60_000)
    slow.clear(KEY)
    vi.advanceTimersByTime(RELEASE_MS)
    // sensors/2 is still held by the other subscriber
    expect(gone).toEqual([0, 1])
    vi.advanceTimersByTime(MAX_HOLD_MS)
    expect(gone).toEqual([0, 1, 2])
    expect(slow.stats.timedOut).toBe(1)
  } finally { slow.close() }
})

it('close lets everything go at once', () => {
  h.set(KEY, [['sensors/#']], 60_000)
  const p = holdMany(100)
  h.clear(KEY)
  h.close()
  expect(p.gone).toHaveLength(100)
})

it('a slice is half the way from the low-water mark back to the high-water mark', () => {
  const cfg = { highWater: 0.25, lowWater: 0.0625 }
  expect(releaseSlice(cfg, { maxOutgoingBytes: 2 * 1024 * 1024, maxQueuedMessages: 1000, maxQueuedBytes: 0 }))
    .toEqual({ bytes: 196608, publishes: 93 })
  // no byte bound: a fixed slice
  expect(releaseSlice(cfg, { maxOutgoingBytes: 0, maxQueuedMessages: 0, maxQueuedBytes: 0 })).toEqual({ bytes: 262144, publishes: 256 })
})

it('a publish waits behind a long line at most maxHoldMs, and close leaves no timer', () => {
  const slow = new Holds(MAX_HOLD_MS, undefined, { bytes: MSG, publishes: 1 })
  slow.set(KEY, [['sensors/#']], 60_000)
  const gone: number[] = []
  // 600 slices of one: more than maxHoldMs / RELEASE_MS
  for (let i = 0; i < 600; i++) slow.hold(`sensors/${i}`, MSG, () => gone.push(i))
  slow.clear(KEY)
  vi.advanceTimersByTime(MAX_HOLD_MS)
  expect(gone).toHaveLength(600)
  expect(gone.slice(0, 100)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  expect(slow.stats.timedOut).toBeGreaterThan(0)
  slow.close()
  expect(vi.getTimerCount()).toBe(0)
})

it('a subscriber cleared while a slice is let go: what it held goes on in the line, in order, not after maxHoldMs', () => {
  const other = 'broker-a\u0000other'
  h.set(KEY, [['sensors/#'], ['lights/#']], 60_000)
  h.set(other, [['lights/#']], 60_000)
  const gone: string[] = []
  h.hold('lights/1', MSG, () => gone.push('lights/1 first'))
  // letting sensors/1 go clears the other subscriber (at once, while the slice is let go)
  h.hold('sensors/1', MSG, () => { gone.push('sensors/1'); h.clear(other) })
  h.hold('lights/1', MSG, () => gone.push('lights/1 second'))
  h.clear(KEY)
  vi.advanceTimersByTime(2 * RELEASE_MS)
  expect(gone).toEqual(['sensors/1', 'lights/1 first', 'lights/1 second'])
  expect(h.congested).toEqual([])
  expect(h.stats.timedOut).toBe(0)
})

it('a slice does not look again at what an earlier slice passed over while no subscriber changed', () => {
  const other = 'broker-a\u0000other'
  const small = new Holds(60_000, undefined, { bytes: 10 * MSG, publishes: 10 })
  try {
    small.set(other, [['lights/#']], 60_000)
    small.set(KEY, [['sensors/#']], 60_000)
    // 1000 held by the other subscriber, still congested, ahead of a line of 100
    for (let i = 0; i < 1000; i++) small.hold(`lights/${i}`, 10, () => {})
    let n = 0
    for (let i = 0; i < 100; i++) small.hold(`sensors/${i}`, MSG, () => { n++ })
    const blocks = vi.spyOn(small, 'blocks')
    small.clear(KEY)
    for (let i = 0; i < 10; i++) {
      // the other subscriber's announcement renewed, the same reach: nothing it held can go on
      small.set(other, [['lights/#']], 60_000)
      vi.advanceTimersByTime(RELEASE_MS)
    }
    expect(n).toBe(100)
    // ten slices: each looked at the 1000 once would be 10 000
    expect(blocks.mock.calls.length).toBeLessThan(1200)
  } finally { small.close() }
})

it('a congested subscriber announced again with less reach: what it no longer receives goes on with the line', () => {
  const other = 'broker-a\u0000other'
  const small = new Holds(60_000, undefined, { bytes: MSG, publishes: 1 })
  try {
    small.set(other, [['lights/#'], ['doors/#']], 60_000)
    small.set(KEY, [['sensors/#']], 60_000)
    const gone: string[] = []
    small.hold('doors/1', MSG, () => gone.push('doors/1'))
    for (let i = 0; i < 3; i++) small.hold(`sensors/${i}`, MSG, () => gone.push(`sensors/${i}`))
    small.clear(KEY)
    expect(gone).toEqual(['sensors/0'])
    small.set(other, [['lights/#']], 60_000)
    vi.advanceTimersByTime(RELEASE_MS)
    expect(gone).toEqual(['sensors/0', 'doors/1'])
    vi.advanceTimersByTime(2 * RELEASE_MS)
    expect(gone).toEqual(['sensors/0', 'doors/1', 'sensors/1', 'sensors/2'])
  } finally { small.close() }
})

/** a seeded generator, for the random runs below */
function lcg (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

for (const sameReach of [true, false]) {
  const what = sameReach ? 'each subscriber announced with one reach' : 'reaches changing'
  const inOrder = sameReach ? ', those on one topic in the order held' : ''
  it(`random runs (${what}): each publish goes on once, within maxHoldMs${inOrder}, and close leaves no timer`, () => {
    for (let seed = 1; seed <= 100; seed++) {
      const r = lcg(seed)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
      const maxHold = 50
      const hs = new Holds(maxHold, undefined, { bytes: 3, publishes: 2 })
      const keys = ['b\u0000k0', 'b\u0000k1', 'b\u0000k2']
      const reaches: Array<Array<[string]>> = [[['a/#']], [['b/#']], [['a/1'], ['c/#']], [['#']]]
      const topics = ['a/1', 'a/2', 'b/1', 'c/1', 'd/1']
      const calls: number[] = []
      const order: Array<[number, string]> = []
      // set, clear or hold; a publish let go does so too, at once, now and then (the writes it causes)
      const act = (depth: number): void => {
        const x = r()
        const k = Math.floor(r() * keys.length)
        if (x < 0.25) hs.set(keys[k] as string, sameReach ? reaches[k] as Reach : pick(reaches), 10 + Math.floor(r() * 100))
        else if (x < 0.45) hs.clear(keys[k] as string)
        else {
          const id = calls.length
          const topic = pick(topics)
          const since = Date.now()
          calls.push(0)
          hs.hold(topic, 1 + Math.floor(r() * 2), () => {
            calls[id] = (calls[id] as number) + 1
            order.push([id, topic])
            expect(Date.now() - since, `seed ${seed}: publish ${id} waited`).toBeLessThanOrEqual(maxHold)
            if (depth < 2 && r() < 0.3) act(depth + 1)
          })
        }
      }
      for (let step = 0; step < 400; step++) {
        act(0)
        if (r() < 0.3) vi.advanceTimersByTime(Math.floor(r() * 3 * RELEASE_MS))
      }
      for (let i = 0; i < 4; i++) vi.advanceTimersByTime(maxHold + 1)
      expect(calls.every((n) => n === 1), `seed ${seed}: each publish once`).toBe(true)
      if (sameReach) {
        const last = new Map<string, number>()
        for (const [id, topic] of order) {
          expect(id, `seed ${seed}: ${topic}`).toBeGreaterThan(last.get(topic) ?? -1)
          last.set(topic, id)
        }
      }
      hs.close()
      expect(vi.getTimerCount()).toBe(0)
    }
  })
}
