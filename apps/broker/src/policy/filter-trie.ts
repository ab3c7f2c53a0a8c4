// A trie of topic filters (with templates) that finds the most specific filter matching a topic.
// Cost is bounded by the topic's depth and the branching at each level, not by the number of filters.
import { hasTemplate } from './topic.js'

interface TemplateChild<V> {
  readonly re: RegExp
  readonly node: TrieNode<V>
}

class TrieNode<V> {
  literal: Map<string, TrieNode<V>> | null = null
  template: Map<string, TemplateChild<V>> | null = null
  plus: TrieNode<V> | null = null
  /** value of the filter ending in '#' at this node */
  hash: V | null = null
  /** value of the filter ending exactly at this node */
  exact: V | null = null
}

/** `dev-{username}` → /^dev-[^/]+$/: a template level matches any value it could resolve to. */
function templateRegExp (level: string): RegExp {
  const parts = level.split(/\{(?:username|clientid)\}/)
  return new RegExp('^' + parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+') + '$', 's')
}

/**
 * Specificity, level by level from the left: a literal level beats a template level, which beats '+',
 * which beats '#'. The first filter found by a depth-first walk in that order is the most specific one.
 * Template levels match whatever value they could take for some client; the caller decides what the
 * captured value means (see ownership.ts).
 */
export class FilterTrie<V> {
  private readonly root = new TrieNode<V>()
  private count = 0

  get size (): number { return this.count }

  /** Inserts or replaces the value stored for `filter`. */
  set (filter: string, value: V): void {
    let node = this.root
    const levels = filter.split('/')
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i] as string
      if (level === '#') {
        if (node.hash === null) this.count++
        node.hash = value
        return
      }
      node = this.child(node, level)
    }
    if (node.exact === null) this.count++
    node.exact = value
  }

  delete (filter: string): boolean {
    let node: TrieNode<V> | null | undefined = this.root
    const levels = filter.split('/')
    for (let i = 0; i < levels.length && node; i++) {
      const level = levels[i] as string
      if (level === '#') {
        if (node.hash === null) return false
        node.hash = null
        this.count--
        return true
      }
      node = level === '+' ? node.plus : hasTemplate(level) ? node.template?.get(level)?.node : node.literal?.get(level)
    }
    if (!node || node.exact === null) return false
    node.exact = null
    this.count--
    return true
  }

  /** The value of the most specific filter matching topic name `topic`, or undefined. */
  match (topic: string): V | undefined {
    return walk(this.root, topic.split('/'), 0, topic.charCodeAt(0) === 36) ?? undefined
  }

  private child (node: TrieNode<V>, level: string): TrieNode<V> {
    if (level === '+') {
      node.plus ??= new TrieNode<V>()
      return node.plus
    }
    if (hasTemplate(level)) {
      node.template ??= new Map()
      let t = node.template.get(level)
      if (t === undefined) {
        t = { re: templateRegExp(level), node: new TrieNode<V>() }
        node.template.set(level, t)
      }
      return t.node
    }
    node.literal ??= new Map()
    let next = node.literal.get(level)
    if (next === undefined) {
      next = new TrieNode<V>()
      node.literal.set(level, next)
    }
    return next
  }
}

function walk<V> (node: TrieNode<V>, levels: string[], i: number, dollar: boolean): V | null {
  if (i === levels.length) return node.exact ?? node.hash // 'a/#' also matches 'a'
  const level = levels[i] as string
  const lit = node.literal?.get(level)
  if (lit !== undefined) {
    const r = walk(lit, levels, i + 1, dollar)
    if (r !== null) return r
  }
  if (node.template !== null && level !== '') {
    for (const t of node.template.values()) {
      if (!t.re.test(level)) continue
      const r = walk(t.node, levels, i + 1, dollar)
      if (r !== null) return r
    }
  }
  // MQTT-4.7.2-1: wildcards in the first level do not match topics starting with '$'
  if (i === 0 && dollar) return null
  if (node.plus !== null) {
    const r = walk(node.plus, levels, i + 1, dollar)
    if (r !== null) return r
  }
  return node.hash
}
