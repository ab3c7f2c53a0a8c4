// Topic and filter syntax, templates, MQTT matching and filter algebra: exhaustive tables.
import { describe, expect, it } from 'vitest'
import {
  checkFilter, checkTopicName, filterCovers, filtersIntersect, hasTemplate, matchTopic, resolveFilter, resolveLevel, type TemplateContext
} from '../../apps/broker/src/policy/topic.js'

describe('checkFilter', () => {
  it.each([
    ['a', true], ['a/b/c', true], ['#', true], ['+', true], ['a/#', true], ['+/+/#', true], ['a/+/c', true],
    ['/', true], ['a//b', true], ['/a', true], ['a/', true], ['$SYS/#', true],
    ['devices/{username}/#', true], ['{clientid}', true], ['dev-{username}', true], ['{username}-{clientid}', true],
    ['capteurs/température/°C', true], ['🦊/+', true], ['a{b', true],
    ['', false], ['a\u0000b', false], ['a/#/b', false], ['#/a', false], ['a#', false], ['a/b#', false], ['##', false],
    ['a+', false], ['+a/b', false], ['a/++', false], ['{user}/x', false], ['{}', false], ['{USERNAME}', false],
    ['{username}{x}', false], ['dev-{clientId}', false]
  ])('%j valid=%s', (filter, valid) => {
    const why = checkFilter(filter)
    expect(why === null, String(why)).toBe(valid)
    if (!valid) expect(why).toMatch(/\S/)
  })
})

describe('checkTopicName', () => {
  it.each([
    ['a', true], ['a/b', true], ['/', true], ['a//b', true], ['$SYS/x', true], ['ü/🦊', true], ['{username}', true],
    ['', false], ['a/+', false], ['+', false], ['#', false], ['a/#', false], ['a#b', false], ['a\u0000', false]
  ])('%j valid=%s', (topic, valid) => {
    expect(checkTopicName(topic) === null).toBe(valid)
  })
})

describe('hasTemplate', () => {
  it.each([
    ['a/{username}', true], ['{clientid}', true], ['x-{username}-y', true], ['a/b', false], ['{user}', false], ['{}', false]
  ])('%j → %s', (s, expected) => { expect(hasTemplate(s)).toBe(expected) })
})

const ctx = (username: string | undefined, clientId = 'c1'): TemplateContext => ({ username, clientId })

describe('resolveLevel', () => {
  it.each<[string, TemplateContext, string | null]>([
    ['plain', ctx('alice'), 'plain'],
    ['{username}', ctx('alice'), 'alice'],
    ['{clientid}', ctx('alice', 'c1'), 'c1'],
    ['dev-{username}', ctx('alice'), 'dev-alice'],
    ['{username}-{clientid}', ctx('alice', 'c1'), 'alice-c1'],
    ['{username}{username}', ctx('ab'), 'abab'],
    ['{username}', ctx('josé'), 'josé'],
    ['{username}', ctx('🦊'), '🦊'],
    ['{username}', ctx('$SYS'), '$SYS'],
    // replacement strings must not be interpreted ($&, $1)
    ['{username}', ctx('$&'), '$&'],
    ['x{username}', ctx('$1'), 'x$1'],
    ['{username}', ctx('.*'), '.*'],
    ['{username}', ctx("x' OR '1'='1"), "x' OR '1'='1"],
    // missing or injecting values make the level match nothing
    ['{username}', ctx(undefined), null],
    ['dev-{username}', ctx(undefined), null],
    ['{clientid}', ctx(undefined, 'c9'), 'c9'],
    ['{username}', ctx(''), null],
    ['{clientid}', ctx('alice', ''), null],
    ['{username}', ctx('a/b'), null],
    ['{username}', ctx('a+'), null],
    ['{username}', ctx('#'), null],
    ['{username}', ctx('{clientid}'), null],
    ['{username}', ctx('a}'), null],
    ['{username}', ctx('a{'), null],
    ['{username}', ctx('a\u0000'), null],
    ['{clientid}', ctx('alice', 'x/#'), null],
    ['{clientid}', ctx('alice', '+'), null],
    ['plain', ctx(undefined, ''), 'plain']
  ])('%j with %o → %j', (level, c, expected) => {
    expect(resolveLevel(level, c)).toBe(expected)
  })
})

describe('resolveFilter', () => {
  it.each<[string, TemplateContext, string | null]>([
    ['devices/{username}/#', ctx('alice'), 'devices/alice/#'],
    ['a/b/+', ctx(undefined), 'a/b/+'],
    ['users/{username}/{clientid}/#', ctx('bob', 'phone'), 'users/bob/phone/#'],
    ['rooms/{username}-{clientid}', ctx('bob', 'phone'), 'rooms/bob-phone'],
    ['devices/{username}/#', ctx(undefined), null],
    ['devices/{username}/#', ctx('a/b'), null],
    ['clients/{clientid}/inbox', ctx('bob', 'c/#'), null],
    ['{username}//x', ctx('a'), 'a//x']
  ])('%j with %o → %j', (filter, c, expected) => {
    expect(resolveFilter(filter, c)).toBe(expected)
  })
})

// [filter, topic, matches]
const MATCH_TABLE: Array<[string, string, boolean]> = [
  ['a/b', 'a/b', true], ['a/b', 'a/c', false], ['a/b', 'a/b/c', false], ['a/b/c', 'a/b', false], ['A', 'a', false],
  ['+', 'a', true], ['+', 'a/b', false], ['+', '', true], ['+', '/a', false], ['a/+', 'a/', true], ['+/+', '/', true],
  ['+/b', '/b', true], ['a/+/c', 'a/b/c', true], ['a/+/c', 'a//c', true], ['a/+/c', 'a/b/d', false], ['a/+', 'a', false],
  ['#', 'a', true], ['#', 'a/b/c', true], ['#', '/', true], ['#', '', true], ['a/#', 'a', true], ['a/#', 'a/', true],
  ['a/#', 'a/b/c', true], ['a/#', 'ab', false], ['a/#', 'b/a', false], ['a/+/#', 'a/b', true], ['a/+/#', 'a', false],
  ['a//b', 'a//b', true], ['a//b', 'a/b', false], ['/a', '/a', true], ['/a', 'a', false], ['a/', 'a/', true], ['a/', 'a', false],
  // MQTT-4.7.2-1: wildcards in the first level never match topics starting with '$'
  ['#', '$SYS/x', false], ['#', '$SYS', false], ['+/x', '$SYS/x', false], ['+', '$x', false], ['+/#', '$app/x', false],
  ['$SYS/#', '$SYS/x', true], ['$SYS/#', '$SYS', true], ['$SYS/+', '$SYS/x', true], ['$SYS/+', '$SYS', false],
  ['a/+', 'a/$x', true], ['a/#', 'a/$x', true],
  ['capteurs/+/°C', 'capteurs/température/°C', true], ['🦊/#', '🦊/x', true], ['é', 'e\u0301', false], ['ü', 'ü', true]
]

describe('matchTopic', () => {
  it.each(MATCH_TABLE)('%j ~ %j → %s', (filter, topic, expected) => {
    expect(matchTopic(filter, topic)).toBe(expected)
  })
})

// [a, b, some topic matches both]
const INTERSECT_TABLE: Array<[string, string, boolean]> = [
  ['#', 'a', true], ['#', '#', true], ['#', '$SYS/#', false], ['+/#', '$SYS/x', false], ['+', '$SYS', false],
  ['$SYS/#', '$SYS/+', true], ['$SYS', '$SYS', true], ['$a/#', '$b/#', false], ['$SYS/#', '$SYS/broker/uptime', true],
  ['a/#', 'a', true], ['a/b', 'a/b/#', true], ['a/+', 'a', false], ['a/+', '+/b', true], ['a/b', 'a/c', false],
  ['sensors/#', '#', true], ['sensors/#', 'other/#', false], ['sensors/#', '+/+', true], ['+/+', 'a/b/c', false],
  ['+/+/#', 'a', false], ['+/+/#', 'a/b', true], ['a//b', 'a/+/b', true], ['a//b', 'a/b', false], ['/a', '+/a', true],
  ['a/+/c', 'a/b/+', true], ['a/+/c', 'a/b/d', false], ['ü/#', 'ü', true], ['é/#', 'e\u0301/#', false]
]

describe('filtersIntersect', () => {
  it.each(INTERSECT_TABLE)('%j ∩ %j → %s', (a, b, expected) => {
    expect(filtersIntersect(a, b)).toBe(expected)
    expect(filtersIntersect(b, a)).toBe(expected)
  })

  it('agrees with matchTopic when one side is a topic name', () => {
    for (const [filter, topic, expected] of MATCH_TABLE) {
      if (checkTopicName(topic) !== null) continue
      expect(filtersIntersect(filter, topic), `${filter} ∩ ${topic}`).toBe(expected)
    }
  })
})

// [outer, inner, every topic matched by inner is matched by outer]
const COVER_TABLE: Array<[string, string, boolean]> = [
  ['#', 'a/b', true], ['#', '#', true], ['#', '+/x', true], ['#', '$SYS/x', false], ['+/#', '$SYS/#', false], ['+', '$x', false],
  ['a/#', 'a', true], ['a/#', 'a/#', true], ['a/#', 'a/+/#', true], ['a/#', '#', false], ['a/#', 'b/#', false],
  ['a/+', 'a/b', true], ['a/+', 'a/+', true], ['a/+', 'a/#', false], ['a/+', 'a/b/c', false], ['a/b', 'a/+', false],
  ['a', 'a/#', false], ['+/+', 'a/+', true], ['+', '+', true], ['$SYS/#', '$SYS/x', true], ['$SYS/#', '$SYS/#', true],
  ['a/+/c', 'a//c', true], ['a//c', 'a/+/c', false], ['a/+', 'a/', true]
]

describe('filterCovers', () => {
  it.each(COVER_TABLE)('%j ⊇ %j → %s', (outer, inner, expected) => {
    expect(filterCovers(outer, inner)).toBe(expected)
  })

  it('agrees with matchTopic when the inner side is a topic name', () => {
    for (const [filter, topic, expected] of MATCH_TABLE) {
      if (checkTopicName(topic) !== null) continue
      expect(filterCovers(filter, topic), `${filter} ⊇ ${topic}`).toBe(expected)
    }
  })

  it('a filter covering another intersects it', () => {
    for (const [outer, inner, covers] of COVER_TABLE) if (covers) expect(filtersIntersect(outer, inner), `${outer} ${inner}`).toBe(true)
  })
})
