// sharedSubscriptions in the broker's config: defaults, bounds, unknown keys named.
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'

describe('sharedSubscriptions config', () => {
  it('defaults to keeping 10000 messages per group', () => {
    expect(parseConfig({}, 't.yaml').sharedSubscriptions).toEqual({ maxQueued: 10000, handoverTimeoutMs: 5000 })
  })

  it.each([0, 1, 1_000_000])('accepts maxQueued %i', (maxQueued) => {
    expect(parseConfig({ sharedSubscriptions: { maxQueued } }, 't.yaml').sharedSubscriptions.maxQueued).toBe(maxQueued)
  })

  it.each([
    [{ maxQueued: -1 }, /sharedSubscriptions\.maxQueued/],
    [{ maxQueued: 1.5 }, /sharedSubscriptions\.maxQueued/],
    [{ maxQueued: '10' }, /sharedSubscriptions\.maxQueued/],
    [{ maxQueue: 10 }, /sharedSubscriptions/],
    [{ handoverTimeoutMs: 99 }, /sharedSubscriptions\.handoverTimeoutMs/],
    [{ handoverTimeoutMs: 30001 }, /sharedSubscriptions\.handoverTimeoutMs/]
  ])('refuses %j, naming the key', (value, message) => {
    expect(() => parseConfig({ sharedSubscriptions: value }, 't.yaml')).toThrow(message)
  })
})
