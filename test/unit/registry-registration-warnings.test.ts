// Which accounts a new registration takes from (the most specific registration decides a topic), and owners
// that do not exist: a table.
import { describe, expect, it } from 'vitest'
import { registrationWarnings, takesFrom } from '../../apps/broker/src/registry/registration-warnings.js'

describe('takesFrom(inner, outer): some topic matches both and inner decides it', () => {
  it.each([
    ['a/b', 'a/#', true],
    ['a/b', 'a/+', true],
    ['a/+', 'a/#', true],
    ['a/b/#', 'a/#', true],
    ['a', 'a/#', true], // 'a/#' matches 'a' too; an exact filter beats '#' there
    ['a/#', 'a/b', false],
    ['a/#', 'a/#', false],
    ['a/+/c', 'a/b/#', false], // a/b/c: 'b' beats '+' at the second level
    ['a/b/#', 'a/+/c', true], // a/b/c: the reverse
    ['x/#', 'a/#', false],
    ['devices/sensor-1/telemetry', 'devices/{username}/telemetry', true],
    ['devices/{username}/telemetry', 'devices/+/telemetry', true],
    ['devices/+/telemetry', 'devices/{username}/telemetry', false],
    ['$SYS/x', '#', false]
  ] as const)('%s from %s: %s', (inner, outer, expected) => {
    expect(takesFrom(inner, outer)).toBe(expected)
  })
})

describe('registrationWarnings', () => {
  const topics = [
    { filter: 'sensors/#', owners: ['root'] },
    { filter: 'sensors/s1/#', owners: ['s1', 'gone'] },
    { filter: 'devices/{username}/#', owners: ['{username}'] },
    { filter: 'shared/#', owners: ['s1', 's2'] }
  ]
  const known = new Set(['root', 's1', 's2', 'admin'])

  it('names owners that do not exist', () => {
    expect(registrationWarnings('x/#', ['ghost', 'admin', '{username}'], topics, known, new Set())).toEqual([
      expect.objectContaining({ code: 'unknown-owner', owners: ['ghost'] })
    ])
  })

  it('names the owners of the registration that decided there, existing accounts only, and who of them is connected', () => {
    expect(registrationWarnings('sensors/s1/door', ['admin'], topics, known, new Set(['s1']))).toEqual([
      expect.objectContaining({ code: 'takes-from-owners', filter: 'sensors/s1/#', owners: ['s1'], connected: ['s1'] })
    ])
    // an owner kept by the new registration loses nothing
    expect(registrationWarnings('shared/x', ['s1'], topics, known, new Set())).toEqual([
      expect.objectContaining({ filter: 'shared/#', owners: ['s2'], connected: [] })
    ])
    expect(registrationWarnings('shared/x', ['s1', 's2'], topics, known, new Set())).toEqual([])
  })

  it('names the account whose own {username} subtree is cut into', () => {
    expect(registrationWarnings('devices/s2/cmd', ['admin'], topics, known, new Set())).toEqual([
      expect.objectContaining({ filter: 'devices/{username}/#', owners: ['s2'] })
    ])
    expect(registrationWarnings('devices/nobody/cmd', ['admin'], topics, known, new Set())).toEqual([])
  })

  it('says nothing for a registration wider than the others or beside them', () => {
    expect(registrationWarnings('#', ['admin'], topics, known, new Set())).toEqual([])
    expect(registrationWarnings('plant/#', ['admin'], topics, known, new Set())).toEqual([])
  })
})
