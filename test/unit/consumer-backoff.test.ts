// Reconnect back-off: doubling, capped, jittered, reset after a connection.
import { describe, expect, it } from 'vitest'
import { createBackoff } from '../../packages/common/src/index.js'

describe('reconnect back-off', () => {
  it.each([
    { random: 0.5, want: [100, 200, 400, 800, 1000, 1000] },
    { random: 0, want: [80, 160, 320, 640, 800, 800] },
    { random: 0.999999, want: [120, 240, 480, 960, 1200, 1200] }
  ])('doubles up to the maximum with ±20% jitter (random=$random)', ({ random, want }) => {
    const backoff = createBackoff({ minMs: 100, maxMs: 1000 }, () => random)
    expect(want.map(() => backoff.next())).toEqual(want)
    backoff.reset()
    expect(backoff.next()).toBe(want[0])
  })
})
