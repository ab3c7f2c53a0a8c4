// Rates from plain counters, sampled on a timer (fake timers: the sampler's clock is the test's).
import { DeliveryLatency } from '../../apps/broker/src/observe/delivery-latency.js'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { TrafficStats } from '../../apps/broker/src/hooks/hooks.js'
import type { TopicMeter } from '../../apps/broker/src/policy/decision.js'
import { createSampler, type Sampler } from '../../apps/broker/src/observe/sampler.js'

let stats: TrafficStats
let meters: Map<string, TopicMeter>
let sampler: Sampler
beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 })
  stats = { forwardFiltered: 0, received: [0, 0, 0], receivedBytes: 0, sent: [0, 0, 0], sentBytes: 0, latency: new DeliveryLatency() }
  meters = new Map([['a/#', { messages: 0, bytes: 0, lastAt: 0 }]])
  sampler = createSampler({ intervalMs: 1000, stats, meters, clients: () => 3, window: 5, historySize: 4 })
})
afterEach(() => {
  sampler.close()
  vi.useRealTimers()
})

describe('createSampler', () => {
  it('turns counters into per-second rates over the window', () => {
    for (let i = 0; i < 5; i++) {
      stats.received[1] += 10
      stats.sent[0] += 20
      meters.get('a/#')!.messages += 4
      vi.advanceTimersByTime(1000)
    }
    expect(sampler.latest()).toMatchObject({ clients: 3, receivedPerSecond: 10, sentPerSecond: 20 })
    expect(sampler.topicRate('a/#')).toBe(4)
    // quiet for a whole window: back to zero
    vi.advanceTimersByTime(5000)
    expect(sampler.latest().receivedPerSecond).toBe(0)
    expect(sampler.topicRate('a/#')).toBe(0)
  })

  it('starts a registration that appears mid-window at rate 0, and forgets removed ones', () => {
    vi.advanceTimersByTime(3000)
    meters.set('b/#', { messages: 1000, bytes: 0, lastAt: 0 })
    vi.advanceTimersByTime(1000)
    expect(sampler.topicRate('b/#')).toBe(0)
    meters.get('b/#')!.messages += 2
    vi.advanceTimersByTime(1000)
    expect(sampler.topicRate('b/#')).toBeCloseTo(2 / 5)
    meters.delete('b/#')
    vi.advanceTimersByTime(1000)
    expect(sampler.topicRate('b/#')).toBe(0)
    expect(sampler.topicRate('never')).toBe(0)
  })

  it('keeps a bounded history and tells listeners about each sample', () => {
    const seen: number[] = []
    const off = sampler.onSample((s) => seen.push(s.ts))
    vi.advanceTimersByTime(6000)
    off()
    vi.advanceTimersByTime(1000)
    expect(seen).toHaveLength(6)
    expect(sampler.history().map((s) => s.ts)).toEqual([1_004_000, 1_005_000, 1_006_000, 1_007_000])
  })

  it('stops on close', () => {
    sampler.close()
    const before = sampler.latest()
    vi.advanceTimersByTime(5000)
    expect(sampler.latest()).toBe(before)
  })
})

describe('createSampler at scale', () => {
  it('keeps rings only for registrations with traffic in the window', () => {
    const many = new Map<string, TopicMeter>()
    for (let i = 0; i < 1000; i++) many.set(`r/${i}/#`, { messages: i, bytes: 0, lastAt: 0 })
    const s = createSampler({ intervalMs: 1000, stats, meters: many, clients: () => 0, window: 2 })
    try {
      vi.advanceTimersByTime(1000)
      expect([...s.activeTopics()]).toEqual([])
      many.get('r/7/#')!.messages += 10
      vi.advanceTimersByTime(1000)
      expect([...s.activeTopics()]).toEqual(['r/7/#'])
      expect(s.topicRate('r/7/#')).toBe(5)
      // quiet for a whole window: no ring, rate 0, and traffic again is seen again
      vi.advanceTimersByTime(2000)
      expect([...s.activeTopics()]).toEqual([])
      expect(s.topicRate('r/7/#')).toBe(0)
      many.get('r/7/#')!.messages += 4
      vi.advanceTimersByTime(1000)
      expect(s.topicRate('r/7/#')).toBe(2)
    } finally {
      s.close()
    }
  })
})

describe('two samplers over the same meters', () => {
  it('each see the traffic', () => {
    const shared = new Map<string, TopicMeter>([['a/#', { messages: 0, bytes: 0, lastAt: 0 }]])
    const one = createSampler({ intervalMs: 1000, stats, meters: shared, clients: () => 0, window: 2 })
    const two = createSampler({ intervalMs: 1000, stats, meters: shared, clients: () => 0, window: 2 })
    try {
      shared.get('a/#')!.messages += 6
      vi.advanceTimersByTime(1000)
      expect(one.topicRate('a/#')).toBe(6)
      expect(two.topicRate('a/#')).toBe(6)
    } finally {
      one.close()
      two.close()
    }
  })
})
