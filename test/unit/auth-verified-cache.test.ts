// The memory of verified passwords: keyed by a keyed hash, bound to the account object, short-lived.
import { describe, expect, it } from 'vitest'
import { createVerifiedCache } from '../../apps/broker/src/auth/verified-cache.js'

describe('verified cache', () => {
  const account = { name: 'alice' }
  it('remembers a verified password for that account only, until the time to live ends', () => {
    let now = 0
    const c = createVerifiedCache<object>(1000, () => now)
    c.remember('alice', 'secret', account)
    expect(c.has('alice', Buffer.from('secret'), account)).toBe(true)
    expect(c.has('alice', 'other', account)).toBe(false)
    expect(c.has('alice', 'secret', { name: 'alice' })).toBe(false)
    // (username, password) pairs that concatenate alike are distinct
    c.remember('ab', 'c', account)
    expect(c.has('a', 'bc', account)).toBe(false)
    now = 1000
    expect(c.has('alice', 'secret', account)).toBe(false)
  })

  it('forgets every entry of a username on demand, and remembers nothing with a time to live of 0', () => {
    const c = createVerifiedCache<object>(60_000)
    c.remember('alice', 'one', account)
    c.remember('alice', 'two', account)
    c.forget('alice')
    expect(c.has('alice', 'one', account) || c.has('alice', 'two', account)).toBe(false)
    const off = createVerifiedCache<object>(0)
    off.remember('alice', 'one', account)
    expect(off.has('alice', 'one', account)).toBe(false)
  })
})
