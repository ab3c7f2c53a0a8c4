// Flow control's pure parts: what a congested subscriber reaches (its subscriptions narrowed by its read
// grants and its reply topic), how full its bounds are, and when it counts as congested.
import { describe, expect, it } from 'vitest'
import { fillOf, judge, type CongestionLimits } from '../../apps/broker/src/flow/congestion.js'
import { reaches } from '../../apps/broker/src/flow/holds.js'
import { MAX_REACH, reachOf } from '../../apps/broker/src/flow/reach.js'

describe('reachOf', () => {
  it.each([
    // subscriptions, grants, readsAllPlain, topic, reached
    [['#'], ['devices/me/#'], false, 'devices/me/t', true],
    [['#'], ['devices/me/#'], false, 'devices/other/t', false],
    [['devices/+/t'], ['devices/me/#'], false, 'devices/me/t', true],
    [['devices/+/t'], ['devices/me/#'], false, 'devices/you/t', false],
    [['sensors/#'], ['sensors/#'], false, 'sensors/a/b', true],
    [['sensors/#'], ['other/#'], false, 'sensors/a', false],
    [['a/+/c'], ['a/b/#'], false, 'a/b/c', true],
    [['a/+/c'], ['a/b/#'], false, 'a/x/c', false],
    [['$share/g/sensors/#'], ['sensors/#'], false, 'sensors/a', true],
    [['#'], [], true, 'anything/here', true],
    [['#'], ['#'], true, '$SYS/x', false],
    [['$SYS/#'], ['$SYS/#'], true, '$SYS/x', true]
  ])('%j under %j (reads all: %s) reaches %s: %s', (subs, grants, all, topic, reached) => {
    expect(reaches(reachOf(subs, grants, all), topic)).toBe(reached)
  })

  it.each([
    // subscriptions, grants, its reply topic, topic, reached: the reply topic reads as one more grant
    [['reply/me/#'], ['devices/me/#'], 'reply/me/', 'reply/me/answer', true],
    [['reply/me/#'], ['devices/me/#'], undefined, 'reply/me/answer', false],
    [['reply/+/#'], [], 'reply/me/', 'reply/me/a', true],
    [['reply/+/#'], [], 'reply/me/', 'reply/you/a', false],
    [['#'], ['devices/me/#'], 'reply/me/', 'reply/me/a/b', true],
    [['#'], ['devices/me/#'], 'reply/me/', 'reply/other/a', false],
    [['#'], ['devices/me/#'], 'reply/me/', 'devices/me/t', true]
  ])('%j under %j with reply topic %s reaches %s: %s', (subs, grants, replyTopic, topic, reached) => {
    expect(reaches(reachOf(subs, grants, false, replyTopic), topic)).toBe(reached)
  })

  it('announces at most MAX_REACH entries', () => {
    const subs = Array.from({ length: MAX_REACH + 10 }, (_, i) => `t/${i}`)
    expect(reachOf(subs, ['#'], true)).toHaveLength(MAX_REACH)
  })
})

const L: CongestionLimits = {
  maxOutgoingBytes: 4000, maxQueuedMessages: 100, maxQueuedBytes: 0, highWater: 0.25, lowWater: 0.0625, minDrainBytesPerSec: 1000
}

describe('fillOf', () => {
  it('is the largest share in use of any bound, unset bounds left out', () => {
    expect(fillOf(L, 1000, undefined)).toBe(0.25)
    expect(fillOf(L, 0, { n: 50, bytes: 1e9 })).toBe(0.5)
    expect(fillOf(L, 0, undefined, 30)).toBe(0.3)
    expect(fillOf({ ...L, maxOutgoingBytes: 0, maxQueuedMessages: 0 }, 1e9, { n: 1e9, bytes: 1e9 }, 1e9)).toBe(0)
  })
})

describe('judge', () => {
  it.each([
    // congested now, fill, drain rate, next
    [false, 0.3, 5000, true],
    [false, 0.2, 5000, false], // not yet past the high-water mark
    [true, 0.2, 5000, true], // stays so down to the low-water mark
    [true, 0.06, 5000, false],
    [false, 0.9, 999, false], // reads less than the minimum: holds no one
    [true, 0.9, 0, false] // stopped reading
  ])('congested %s, fill %s, draining %s B/s → %s', (now, fill, rate, next) => {
    expect(judge(now, fill, rate, L)).toBe(next)
  })
})
