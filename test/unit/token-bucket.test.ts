// Token buckets and keyed buckets: pure, on a clock the test drives.
import { describe, expect, it } from 'vitest'
import { KeyedBuckets, TokenBucket } from '../../apps/broker/src/audit/token-bucket.js'

describe('TokenBucket', () => {
  it('lets a burst through, then one token per 1/rate', () => {
    const b = new TokenBucket({ perSecond: 10, burst: 3 }, 0)
    expect([b.tryTake(0), b.tryTake(0), b.tryTake(0), b.tryTake(0)]).toEqual([true, true, true, false])
    expect(b.tryTake(99)).toBe(false)
    expect(b.tryTake(100)).toBe(true)
    expect(b.tryTake(100)).toBe(false)
  })

  it('never holds more than its burst, however long it rests', () => {
    const b = new TokenBucket({ perSecond: 1000, burst: 2 }, 0)
    expect([b.tryTake(1e6), b.tryTake(1e6), b.tryTake(1e6)]).toEqual([true, true, false])
  })

  it('in delay mode goes into debt and says how long each caller must wait', () => {
    const b = new TokenBucket({ perSecond: 10, burst: 1 }, 0)
    expect([b.takeWithDelay(0), b.takeWithDelay(0), b.takeWithDelay(0)]).toEqual([0, 100, 200])
    expect(b.takeWithDelay(250)).toBe(50)
  })
})

describe('KeyedBuckets', () => {
  it('keeps one bucket per key, and 0/s means no limit', () => {
    const k = new KeyedBuckets({ perSecond: 1, burst: 1 })
    expect([k.tryTake('a', 0), k.tryTake('a', 0), k.tryTake('b', 0)]).toEqual([true, false, true])
    const off = new KeyedBuckets({ perSecond: 0, burst: 1 })
    expect(Array.from({ length: 100 }, () => off.tryTake('a', 0)).every(Boolean)).toBe(true)
    expect(off.size).toBe(0)
  })

  it('forgets full buckets when swept, and never grows past its cap', () => {
    const k = new KeyedBuckets({ perSecond: 1, burst: 1 }, 100)
    for (let i = 0; i < 1000; i++) k.tryTake(`10.0.${i >> 8}.${i & 255}`, 0)
    expect(k.size).toBeLessThanOrEqual(100)
    k.sweep(5000)
    expect(k.size).toBe(0)
  })
})
