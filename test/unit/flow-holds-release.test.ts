// Flow control's holds let a cleared subscriber's held publishes go a slice at a time, oldest first, so that the
// subscriber is seen crossing its high-water mark again before much more is on its way to it. Let go at once,
// what ten pipelining publishers had waiting (~1 MB) was past the flow stage before any of it reached the
// subscriber's socket, and a reader was cut off at 2 MiB (flow-control-fan-in failed so in CI).
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { Holds, RELEASE_MS } from '../../apps/broker/src/flow/holds.js'
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

it('a publish waits in the line at most maxHoldMs', () => {
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

it('a subscriber cleared while a slice is let go: what it held goes on in the line, not after maxHoldMs', () => {
  const other = 'broker-a\u0000other'
  h.set(KEY, [['sensors/#']], 60_000)
  h.set(other, [['lights/#']], 60_000)
  const gone: string[] = []
  h.hold('lights/1', MSG, () => gone.push('lights/1'))
  // letting sensors/1 go clears the other subscriber (at once, while the slice is let go)
  h.hold('sensors/1', MSG, () => { gone.push('sensors/1'); h.clear(other) })
  h.clear(KEY)
  vi.advanceTimersByTime(2 * RELEASE_MS)
  expect(gone).toEqual(['sensors/1', 'lights/1'])
  expect(h.congested).toEqual([])
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
