// `$share/{group}/{filter}` parsing, the inner filter QoS capping reads, and the identity of a group's copy.
import { describe, expect, it } from 'vitest'
import { copyBrokerId, isShareTopic, parseCopyBrokerId, parseShareFilter, readFilterOf } from '../../apps/broker/src/policy/share-filter.js'

describe('parseShareFilter', () => {
  it.each([
    ['$share/g/a', 'g', 'a'],
    ['$share/g/a/b/c', 'g', 'a/b/c'],
    ['$share/workers/devices/+/telemetry', 'workers', 'devices/+/telemetry'],
    ['$share/g/#', 'g', '#'],
    ['$share/g/+', 'g', '+'],
    ['$share/g/$SYS/#', 'g', '$SYS/#'],
    ['$share/g//', 'g', '/'],
    ['$share/g/a//b', 'g', 'a//b'],
    ['$share/ünïcödé-🦊/x', 'ünïcödé-🦊', 'x'],
    ['$share/g.1_x-y/{username}/x', 'g.1_x-y', '{username}/x'],
    ['$share/$share/x', '$share', 'x']
  ])('%j → group %j, filter %j', (topic, group, filter) => {
    const p = parseShareFilter(topic)
    expect(p).toEqual({ ok: true, share: { group, filter, key: `${group}/${filter}` } })
  })

  it.each([
    ['$share/', '$share/{group}/{filter}'],
    ['$share/g', '$share/{group}/{filter}'],
    ['$share//a', 'group name must not be empty'],
    ['$share/g/', 'filter must not be empty'],
    ['$share/+/a', 'must not contain + or #'],
    ['$share/#', '$share/{group}/{filter}'],
    ['$share/g+/a', 'must not contain + or #'],
    ['$share/g\u0000/a', 'must not contain + or #'],
    ['$share/g/a/#/b', "'#' only as its whole last level"],
    ['$share/g/a#', "'#' only as its whole last level"],
    ['$share/g/a+', "'+' only as a whole level"],
    ['$share/g/a\u0000', 'U+0000'],
    ['$share/g/$share/h/x', 'cannot share another'],
    ['$share/g/$share', 'cannot share another']
  ])('%j is refused: %s', (topic, why) => {
    const p = parseShareFilter(topic)
    expect(p.ok).toBe(false)
    if (!p.ok) expect(p.reason).toContain(why)
  })

  it('recognises shared subscriptions by their prefix only', () => {
    expect(isShareTopic('$share/g/a')).toBe(true)
    expect(isShareTopic('$share')).toBe(false)
    expect(isShareTopic('$SHARE/g/a')).toBe(false)
    expect(isShareTopic('share/g/a')).toBe(false)
  })
})

describe('readFilterOf', () => {
  it.each([
    ['$share/g/a/+', 'a/+'],
    ['$share/g/#', '#'],
    ['$share/g', '$share/g'],
    ['a/b', 'a/b'],
    ['$SYS/#', '$SYS/#']
  ])('%j reads %j', (sub, filter) => {
    expect(readFilterOf(sub)).toBe(filter)
  })
})

describe('copy identity', () => {
  it.each([
    ['warden-host-1', 'g/a/b'],
    ['b', 'g:1/a:b/#'],
    ['b', 'ünï/🦊/+'],
    ['b', 'g/%41'],
    ['b', 'g/a|share|b']
  ])('broker %j, group key %j round-trips and holds no ":"', (origin, key) => {
    const id = copyBrokerId(origin, key)
    expect(id).not.toContain(':')
    expect(parseCopyBrokerId(id)).toEqual({ origin, key })
  })

  it('gives each group its own identity and leaves other packets alone', () => {
    expect(copyBrokerId('b', 'g/a')).not.toBe(copyBrokerId('b', 'h/a'))
    expect(copyBrokerId('b', 'g/a')).not.toBe(copyBrokerId('b', 'g/a/b'))
    for (const other of ['warden-host-1', '', undefined, null, 42]) expect(parseCopyBrokerId(other)).toBeNull()
  })
})
