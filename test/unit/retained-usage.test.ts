// The retained store's bookkeeping: per account and in all, replacements, clearing, lowered limits.
import { describe, expect, it } from 'vitest'
import { RetainedUsage, UNKNOWN_OWNER } from '../../apps/broker/src/limits/retained-usage.js'
import { storedBytes } from '../../apps/broker/src/limits/queue-bound.js'

const limits = (l: Partial<Record<'maxMessagesPerUser' | 'maxBytesPerUser' | 'maxMessages' | 'maxBytes', number>>): RetainedUsage =>
  new RetainedUsage({ maxMessagesPerUser: 0, maxBytesPerUser: 0, maxMessages: 0, maxBytes: 0, ...l })

describe('RetainedUsage', () => {
  it.each([
    ['a first message within every limit', { maxMessagesPerUser: 1, maxBytesPerUser: 10, maxMessages: 1, maxBytes: 10 }, [], ['t', 'a', 10], null],
    ['one message over the per-account count', { maxMessagesPerUser: 1 }, [['t1', 'a', 1]], ['t2', 'a', 1], /maxMessagesPerUser 1/],
    ['another account under the same per-account count', { maxMessagesPerUser: 1 }, [['t1', 'a', 1]], ['t2', 'b', 1], null],
    ['replacing one\'s own message: no new count', { maxMessagesPerUser: 1 }, [['t', 'a', 1]], ['t', 'a', 1], null],
    ['replacing with more bytes than the account may hold', { maxBytesPerUser: 10 }, [['t', 'a', 5]], ['t', 'a', 11], /maxBytesPerUser 10/],
    ['replacing with fewer bytes, past a lowered limit', { maxBytesPerUser: 10 }, [['t', 'a', 50]], ['t', 'a', 20], null],
    ['taking over another account\'s topic counts for the taker', { maxMessagesPerUser: 1 }, [['t1', 'a', 1], ['t2', 'b', 1]], ['t1', 'b', 1],
      /maxMessagesPerUser 1/],
    ['the total count, across accounts', { maxMessages: 2 }, [['t1', 'a', 1], ['t2', 'b', 1]], ['t3', 'c', 1], /maxMessages 2/],
    ['the total bytes, replacement counted as the difference', { maxBytes: 10 }, [['t1', 'a', 5], ['t2', 'b', 5]], ['t1', 'a', 5], null],
    ['an unknown publisher: totals only', { maxMessagesPerUser: 1, maxMessages: 5 }, [['t1', UNKNOWN_OWNER, 1]], ['t2', UNKNOWN_OWNER, 1], null]
  ] as const)('%s', (_what, l, before, [topic, owner, bytes], expected) => {
    const u = limits(l)
    for (const [t, o, b] of before) u.put(t, o, b)
    const why = u.check(topic, owner, bytes)
    if (expected === null) expect(why).toBeNull()
    else expect(why).toMatch(expected)
  })

  it('keeps per-account and total tallies through put, remove and restore', () => {
    const u = limits({})
    u.put('t1', 'a', 3)
    const old = u.put('t1', 'b', 4)
    expect([u.of('a'), u.of('b'), u.total]).toEqual([{ count: 0, bytes: 0 }, { count: 1, bytes: 4 }, { count: 1, bytes: 4 }])
    u.restore('t1', old)
    expect([u.of('a'), u.of('b'), u.total]).toEqual([{ count: 1, bytes: 3 }, { count: 0, bytes: 0 }, { count: 1, bytes: 3 }])
    u.remove('t1')
    expect(u.total).toEqual({ count: 0, bytes: 0 })
  })
})

describe('storedBytes (queue and retained bounds)', () => {
  it('counts topic and payload bytes; a stored PUBREL (null topic and payload) costs nothing', () => {
    expect(storedBytes({ topic: 'a/é', payload: Buffer.from('xyz') })).toBe(4 + 3)
    expect(storedBytes({ topic: 't', payload: 'ü' })).toBe(1 + 2)
    expect(storedBytes({ topic: null, payload: null })).toBe(0)
  })
})
