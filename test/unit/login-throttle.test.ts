// Failed-login throttling: pure, on a clock the test drives.
import { describe, expect, it } from 'vitest'
import { createLoginThrottle, MAX_KEYS, throttleAddress } from '../../apps/broker/src/limits/login-throttle.js'

describe('login throttle', () => {
  const cfg = {
    maxFailuresPerUserAddress: 3, maxFailuresPerAddress: 5, windowMs: 10_000, lockoutMs: 1000, maxLockoutMs: 3000, delayMs: 100, maxDelayMs: 1000,
    maxPendingPerUserAddress: 2, maxPendingPerAddress: 32, verifyConcurrency: 2, maxVerifyingPerUser: 2, cacheTtlMs: 60_000
  }

  it('counts IPv6 addresses by their /64, IPv4 and mapped IPv4 as they are', () => {
    expect(throttleAddress('2001:db8:1:2:a:b:c:d')).toBe('2001:db8:1:2::/64')
    expect(throttleAddress('2001:db8:1:2::ffff')).toBe(throttleAddress('2001:0db8:0001:0002:9::1'))
    expect(throttleAddress('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(throttleAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(throttleAddress('::1')).toBe('0:0:0:0::/64')
    expect(throttleAddress('127.0.0.5')).toBe('127.0.0.5')
    expect(throttleAddress('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1')
    expect(throttleAddress(undefined)).toBeUndefined()
  })

  it('when full, drops the oldest records that lock nothing, and keeps the lockouts', () => {
    const t = createLoginThrottle(cfg)
    for (let i = 0; i < 3; i++) t.failed('alice', '10.9.9.9', 0)
    expect(t.lockedFor('alice', '10.9.9.9', 1)).toBeGreaterThan(0)
    // an attacker with many addresses makes fresh records (one pair, one address and one username record each)
    for (let i = 0; i < MAX_KEYS; i++) t.failed(`u${i}`, `2001:db8::${i.toString(16)}`, 1)
    expect(t.size).toBeLessThanOrEqual(MAX_KEYS)
    expect(t.lockedFor('alice', '10.9.9.9', 2)).toBeGreaterThan(0)
  })

  it('holds each refusal back longer: delay × 2^(failures − 1), capped', () => {
    const t = createLoginThrottle({ ...cfg, maxFailuresPerUserAddress: 0, maxFailuresPerAddress: 0 })
    expect(Array.from({ length: 6 }, () => t.failed('u', 'a', 0))).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(createLoginThrottle({ ...cfg, delayMs: 0 }).failed('u', 'a', 0)).toBe(0)
  })

  it('locks a (username, address) pair after maxFailuresPerUserAddress, doubling up to maxLockoutMs; never the username elsewhere', () => {
    const t = createLoginThrottle(cfg)
    for (let i = 0; i < 3; i++) t.failed('alice', '10.0.0.1', 0)
    expect(t.lockedFor('alice', '10.0.0.1', 0)).toBe(1000)
    expect(t.lockedFor('alice', '10.9.9.9', 0)).toBe(0)
    expect(t.lockedFor('bob', '10.0.0.1', 0)).toBe(0)
    for (let i = 0; i < 3; i++) t.failed('alice', '10.0.0.1', 1000)
    expect(t.lockedFor('alice', '10.0.0.1', 1000)).toBe(2000)
    for (let i = 0; i < 3; i++) t.failed('alice', '10.0.0.1', 3000)
    expect(t.lockedFor('alice', '10.0.0.1', 3000)).toBe(3000)
  })

  it('a username failing from many addresses is slowed down (longer delays), never locked', () => {
    const t = createLoginThrottle({ ...cfg, maxDelayMs: 100_000 })
    const delays = Array.from({ length: 8 }, (_, i) => t.failed('alice', `10.0.0.${i}`, 0))
    expect(delays.at(-1)).toBe(100 * 2 ** 7)
    expect(t.lockedFor('alice', '10.9.9.9', 0)).toBe(0)
  })

  it('locks an address after maxFailuresPerAddress, whatever usernames it tries', () => {
    const t = createLoginThrottle(cfg)
    for (let i = 0; i < 5; i++) t.failed(`user-${i}`, '10.0.0.1', 0)
    expect(t.lockedFor('someone-else', '10.0.0.1', 0)).toBe(1000)
    expect(t.lockedFor('someone-else', '10.0.0.2', 0)).toBe(0)
  })

  it('forgets failures older than the window', () => {
    const t = createLoginThrottle(cfg)
    t.failed('alice', 'a', 0)
    t.failed('alice', 'a', 0)
    t.failed('alice', 'a', 20_000)
    expect(t.lockedFor('alice', 'a', 20_000)).toBe(0)
  })

  it('clears a pair\'s failures on a successful login, not the address\'s', () => {
    const t = createLoginThrottle(cfg)
    t.failed('alice', 'a', 0)
    t.failed('alice', 'a', 0)
    t.succeeded('alice', 'a')
    t.failed('alice', 'a', 0)
    t.failed('alice', 'a', 0)
    expect(t.lockedFor('alice', 'a', 0)).toBe(0)
    t.failed('bob', 'a', 0)
    expect(t.lockedFor(undefined, 'a', 0)).toBe(1000)
  })

  it('sweeps idle records', () => {
    const t = createLoginThrottle(cfg)
    for (let i = 0; i < 50; i++) t.failed(`u${i}`, `a${i}`, 0)
    expect(t.size).toBe(150)
    t.sweep(60_000)
    expect(t.size).toBe(0)
  })
})
