// @warden/common's reconnect back-off: doubling, capped, jittered around each delay, reset after a connection.
import { describe, expect, it } from 'vitest'
import { createBackoff } from '../../packages/common/src/index.js'

describe('createBackoff', () => {
  it('without jitter: exact doubling delays, read ahead with current/fail and started over with reset', () => {
    const b = createBackoff({ minMs: 250, maxMs: 1500, jitter: 0 })
    expect(b.current).toBe(250)
    expect([b.fail(), b.fail(), b.fail(), b.fail()]).toEqual([500, 1000, 1500, 1500])
    expect(b.current).toBe(1500)
    expect(b.reset()).toBe(250)
  })

  it('next() takes the current delay and doubles the one after', () => {
    const b = createBackoff({ minMs: 100, maxMs: 400, jitter: 0 })
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 400])
    expect(b.current).toBe(400)
  })

  it.each([
    [0, 0.2, 80], [0.5, 0.2, 100], [0.999999, 0.2, 120], [0, 0.5, 50], [1, 0.5, 150]
  ])('random %s with jitter %s spreads a 100 ms delay to %s', (random, jitter, want) => {
    expect(createBackoff({ minMs: 100, maxMs: 1000, jitter }, () => random).current).toBe(want)
  })

  it('draws each delay once: current stays put until the next attempt', () => {
    let r = 0
    const b = createBackoff({ minMs: 1000, maxMs: 10000 }, () => (r = (r + 0.37) % 1))
    const first = b.current
    expect(b.current).toBe(first)
    expect(b.next()).toBe(first)
    expect(b.current).toBeGreaterThanOrEqual(1600)
    expect(b.current).toBeLessThanOrEqual(2400)
  })

  it('never overflows on many failures and stays within the cap plus jitter', () => {
    const b = createBackoff({ minMs: 1, maxMs: 30000 }, Math.random)
    for (let i = 0; i < 2000; i++) b.fail()
    expect(b.current).toBeGreaterThanOrEqual(24000)
    expect(b.current).toBeLessThanOrEqual(36000)
  })
})
