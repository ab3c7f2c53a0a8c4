// FilterTrie: most specific match (literal > template > '+' > '#', level by level), '$' rule, empty levels, scale.
import { describe, expect, it } from 'vitest'
import { FilterTrie } from '../../apps/broker/src/policy/filter-trie.js'

function trieOf (filters: string[]): FilterTrie<string> {
  const t = new FilterTrie<string>()
  for (const f of filters) t.set(f, f)
  return t
}

const SPECIFICITY = ['#', 'a/#', 'a/+', 'a/b', '+/b', 'a/+/c', 'a/{username}/c', 'a/b/c']
const DOLLAR = ['#', '+/x', '$SYS/#', '$foo/+', '{username}/x']
const EMPTY = ['a//b', 'a/+/b', '/a', '+/a', 'a/', 'devices/{username}/x']
const PARTIAL = ['x/dev-{username}/y', 'x/+/y', 'x/{username}-{clientid}/z', 'r/v1.{username}', 'r/+']
const UNICODE = ['capteurs/{username}/température', 'capteurs/+/#', '🦊/{clientid}']

describe.each<[string, string[], Array<[string, string | undefined]>]>([
  ['specificity', SPECIFICITY, [
    ['a/b', 'a/b'], ['a/x', 'a/+'], ['a', 'a/#'], ['a/b/c', 'a/b/c'], ['a/x/c', 'a/{username}/c'], ['a//c', 'a/+/c'],
    ['a/x/d', 'a/#'], ['a/b/d', 'a/#'], ['z/b', '+/b'], ['z/c', '#'], ['', '#'], ['/', '#'], ['$x/b', undefined]
  ]],
  ['exact beats "#" on the parent level', ['a', 'a/#'], [['a', 'a'], ['a/b', 'a/#'], ['b', undefined]]],
  ['"a/#" matches "a"', ['a/#', 'b/+/#'], [['a', 'a/#'], ['a/', 'a/#'], ['b/x', 'b/+/#'], ['b', undefined]]],
  ['"$" topics', DOLLAR, [
    ['$SYS/a', '$SYS/#'], ['$SYS', '$SYS/#'], ['$foo/x', '$foo/+'], ['$bar/x', '{username}/x'], ['$bar/y', undefined],
    ['$', undefined], ['plain/x', '{username}/x'], ['p/q', '#'], ['/x', '+/x']
  ]],
  ['empty levels', EMPTY, [
    ['a//b', 'a//b'], ['a/z/b', 'a/+/b'], ['/a', '/a'], ['z/a', '+/a'], ['a/', 'a/'], ['a', undefined],
    ['devices//x', undefined], ['devices/d1/x', 'devices/{username}/x'], ['//a', undefined]
  ]],
  ['partial-level templates', PARTIAL, [
    ['x/dev-alice/y', 'x/dev-{username}/y'], ['x/dev-/y', 'x/+/y'], ['x/prod-alice/y', 'x/+/y'], ['x/a-b/z', 'x/{username}-{clientid}/z'],
    ['x/a--b/z', 'x/{username}-{clientid}/z'], ['x/ab/z', undefined], ['x/-b/z', undefined], ['x/a-/z', undefined],
    ['r/v1.alice', 'r/v1.{username}'], ['r/v1xalice', 'r/+'], ['r/v1.', 'r/+']
  ]],
  ['unicode', UNICODE, [
    ['capteurs/josé/température', 'capteurs/{username}/température'], ['capteurs/josé/temperature', 'capteurs/+/#'],
    ['🦊/🐺', '🦊/{clientid}'], ['🦊/', undefined]
  ]]
])('%s', (_name, filters, rows) => {
  const trie = trieOf(filters)
  it.each(rows)('%j → %j', (topic, expected) => {
    expect(trie.match(topic)).toBe(expected)
  })
  it('gives the same answers whatever the insertion order', () => {
    const reversed = trieOf([...filters].reverse())
    for (const [topic, expected] of rows) expect(reversed.match(topic), topic).toBe(expected)
  })
})

describe('set / delete / size', () => {
  it('replaces the value of an existing filter without growing', () => {
    const t = new FilterTrie<number>()
    t.set('a/#', 1)
    t.set('a/#', 2)
    t.set('a/{username}', 3)
    t.set('a/{username}', 4)
    expect(t.size).toBe(2)
    expect(t.match('a')).toBe(2)
    expect(t.match('a/x')).toBe(4)
  })

  it.each([
    ['a/b', 'a/b', 'a/+'], ['a/#', 'a/x/y', undefined], ['#', 'q', undefined], ['a/+', 'a/x', 'a/#'],
    ['a/{username}/c', 'a/x/c', 'a/+/c'], ['a/+/c', 'a//c', 'a/#']
  ])('delete %j: %j then matches %j', (filter, topic, after) => {
    const t = trieOf(['#', 'a/#', 'a/b', 'a/+', 'a/+/c', 'a/{username}/c'].filter((f) => f !== '#' || filter === '#'))
    const before = t.size
    expect(t.delete(filter)).toBe(true)
    expect(t.size).toBe(before - 1)
    expect(t.match(topic)).toBe(after)
    expect(t.delete(filter)).toBe(false)
    expect(t.size).toBe(before - 1)
  })

  it.each(['x/y', 'a/b/c', 'a/{clientid}', '+', 'a/+/#'])('delete of unknown %j is false', (filter) => {
    const t = trieOf(['a/#', 'a/b', 'a/{username}'])
    expect(t.delete(filter)).toBe(false)
    expect(t.size).toBe(3)
  })
})

// Reference: rank each level (literal 0, template 1, '+' 2, '#' 3); the lexicographically smallest rank vector
// of the matching filters is the most specific one.
function levelMatches (f: string, t: string, first: boolean): boolean {
  if (f === '+') return !(first && t.startsWith('$'))
  if (f === '{username}') return t !== ''
  return f === t
}
function refMatches (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return !(i === 0 && topic.startsWith('$'))
    if (i >= t.length || !levelMatches(f[i] as string, t[i] as string, i === 0)) return false
  }
  return f.length === t.length
}
const rank = (l: string): number => l === '#' ? 3 : l === '+' ? 2 : l.includes('{') ? 1 : 0
function compare (a: string, b: string): number {
  const x = a.split('/').map(rank)
  const y = b.split('/').map(rank)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number)
  return x.length - y.length
}
function refBest (filters: Iterable<string>, topic: string): string | undefined {
  let best: string | undefined
  for (const f of filters) if (refMatches(f, topic) && (best === undefined || compare(f, best) < 0)) best = f
  return best
}

function prng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

describe('agrees with a brute-force reference', () => {
  it.each([1, 2, 3, 4, 5])('random corpus, seed %i', (seed) => {
    const rnd = prng(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
    const filters = new Set<string>()
    while (filters.size < 60) {
      const depth = 1 + Math.floor(rnd() * 4)
      const levels = Array.from({ length: depth }, () => pick(['a', 'b', '', '$s', '+', '{username}']))
      if (rnd() < 0.3) levels.push('#')
      filters.add(levels.join('/'))
    }
    const trie = trieOf([...filters])
    for (let i = 0; i < 400; i++) {
      const depth = 1 + Math.floor(rnd() * 5)
      const topic = Array.from({ length: depth }, () => pick(['a', 'b', '', '$s', 'c'])).join('/')
      expect(trie.match(topic), topic).toBe(refBest(filters, topic))
    }
  })
})

describe('scale (not timed)', () => {
  it('100k filters still give the most specific match for a sample', () => {
    const trie = new FilterTrie<string>()
    const filters: string[] = []
    for (let i = 0; i < 100_000; i++) {
      const s = i % 100
      const f = i % 3 === 0 ? `fleet/site-${s}/dev-${i}/#` : i % 3 === 1 ? `fleet/site-${s}/dev-${i}/status` : `fleet/+/dev-${i}/+`
      filters.push(f)
      trie.set(f, f)
    }
    for (const f of ['fleet/{username}/inbox', 'fleet/#', 'fleet/site-7/+/status']) { filters.push(f); trie.set(f, f) }
    expect(trie.size).toBe(100_003)
    const rnd = prng(42)
    for (let n = 0; n < 6; n++) {
      const i = Math.floor(rnd() * 100_000)
      const s = i % 100
      for (const topic of [`fleet/site-${s}/dev-${i}/status`, `fleet/site-${s}/dev-${i}/x`, `fleet/site-${s}/dev-${i}`,
        `fleet/other/dev-${i}/status`, `fleet/site-${s}/inbox`, `fleet/site-7/dev-${i}/status`, '$fleet/x']) {
        expect(trie.match(topic), topic).toBe(refBest(filters, topic))
      }
    }
    expect(trie.match('fleet/site-3/dev-3/telemetry')).toBe('fleet/site-3/dev-3/#')
    expect(trie.match('fleet/site-1/dev-1/status')).toBe('fleet/site-1/dev-1/status')
    expect(trie.match('fleet/site-2/dev-2/status')).toBe('fleet/+/dev-2/+')
    expect(trie.match('fleet/site-7/dev-8/status')).toBe('fleet/site-7/+/status')
    expect(trie.match('fleet/site-2/dev-2/x/y')).toBe('fleet/#')
    expect(trie.match('fleet/x/dev-2/status')).toBe('fleet/+/dev-2/+')
    expect(trie.match('fleet/site-9/inbox')).toBe('fleet/{username}/inbox')
  })
})
