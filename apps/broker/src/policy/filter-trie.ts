// A trie of topic filters (with templates) that finds the most specific filter matching a topic.
// Cost is bounded by the topic's depth and the branching at each level, not by the number of filters.
import { type TemplateContext, hasTemplate, resolveLevel } from './topic.js'

class TrieNode<V> {
  literal: Map<string, TrieNode<V>> | null = null
  template: Map<string, TrieNode<V>> | null = null
  plus: TrieNode<V> | null = null
  /** value of the filter ending in '#' at this node */
  hash: V | null = null
  /** value of the filter ending exactly at this node */
  exact: V | null = null
}

/**
 * Specificity, level by level from the left: a literal level beats a template level, which beats '+',
 * which beats '#'. The first filter found by a depth-first walk in that order is the most specific one.
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
      node = level === '+' ? node.plus : hasTemplate(level) ? node.template?.get(level) : node.literal?.get(level)
    }
    if (!node || node.exact === null) return false
    node.exact = null
    this.count--
    return true
  }

  /** The value of the most specific filter matching `topic` for this client, or undefined. */
  match (topic: string, ctx: TemplateContext): V | undefined {
    const levels = topic.split('/')
    return walk(this.root, levels, 0, ctx, topic.charCodeAt(0) === 36) ?? undefined
  }

  private child (node: TrieNode<V>, level: string): TrieNode<V> {
    if (level === '+') {
      node.plus ??= new TrieNode<V>()
      return node.plus
    }
    const map = hasTemplate(level) ? (node.template ??= new Map()) : (node.literal ??= new Map())
    let next = map.get(level)
    if (next === undefined) {
      next = new TrieNode<V>()
      map.set(level, next)
    }
    return next
  }
}

function walk<V> (node: TrieNode<V>, levels: string[], i: number, ctx: TemplateContext, dollar: boolean): V | null {
  if (i === levels.length) return node.exact ?? node.hash // 'a/#' also matches 'a'
  const level = levels[i] as string
  const lit = node.literal?.get(level)
  if (lit !== undefined) {
    const r = walk(lit, levels, i + 1, ctx, dollar)
    if (r !== null) return r
  }
  if (node.template !== null) {
    for (const [pattern, next] of node.template) {
      if (resolveLevel(pattern, ctx) !== level) continue
      const r = walk(next, levels, i + 1, ctx, dollar)
      if (r !== null) return r
    }
  }
  // MQTT-4.7.2-1: wildcards in the first level do not match topics starting with '$'
  if (i === 0 && dollar) return null
  if (node.plus !== null) {
    const r = walk(node.plus, levels, i + 1, ctx, dollar)
    if (r !== null) return r
  }
  return node.hash
}
