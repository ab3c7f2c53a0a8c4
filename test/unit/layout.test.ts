// The broker's folders import each other one way: a cycle between two folders (type imports included) fails.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '../../apps/broker/src')

/** Edges left to issue 14 item 4 (one rule in one place), which reworks config/load-config.ts: remove them there. */
const KNOWN: ReadonlySet<string> = new Set([
  'config/load-config.ts -> auth/password.ts',
  'config/load-config.ts -> registry/payload-schema.ts'
])

/** folder → folder → the file imports that make the edge, e.g. `hooks` → `delivery` → ['hooks/hooks.ts -> delivery/publish-gate.ts'] */
function folderGraph (): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>()
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  for (const file of files) {
    const text = readFileSync(join(SRC, file), 'utf8')
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(SRC, resolve(SRC, dirname(file), m[1]!)).replace(/\.js$/, '.ts')
      const edge = `${file} -> ${target}`
      const from = dirname(file)
      const to = dirname(target)
      if (from === to || KNOWN.has(edge)) continue
      const out = graph.get(from) ?? new Map<string, string[]>()
      graph.set(from, out)
      out.set(to, [...(out.get(to) ?? []), edge])
    }
  }
  return graph
}

/** Every cycle found by a depth-first walk, each as its folders and the imports closing it. */
function cycles (graph: Map<string, Map<string, string[]>>): string[] {
  const found: string[] = []
  const done = new Set<string>()
  const visit = (node: string, path: string[]): void => {
    const at = path.indexOf(node)
    if (at >= 0) {
      const loop = [...path.slice(at), node]
      found.push(loop.slice(1).map((to, i) => graph.get(loop[i]!)!.get(to)![0]).join(', '))
      return
    }
    if (done.has(node)) return
    for (const to of graph.get(node)?.keys() ?? []) visit(to, [...path, node])
    done.add(node)
  }
  for (const node of graph.keys()) visit(node, [])
  return found
}

describe('apps/broker/src layout', () => {
  it('has folders that import each other one way only', () => {
    const graph = folderGraph()
    expect(graph.get('broker')?.has('aedes')).toBe(true) // the scan sees imports at all
    expect(cycles(graph)).toEqual([])
  })

  it('reports a cycle when one is added', () => {
    const graph = folderGraph()
    graph.get('aedes')!.set('broker', ['aedes/x.ts -> broker/create-broker.ts'])
    expect(cycles(graph).length).toBeGreaterThan(0)
  })
})

describe('the publish path', () => {
  const sources = (): Array<[string, string]> => readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => [f, readFileSync(join(SRC, f), 'utf8')])

  it('refuses a client publish in one place: only hooks/refusal.ts drops a packet through the gate', () => {
    const dropping = sources().filter(([, text]) => /\.drop\(\s*packet\s*\)|\.topic\s*=\s*VOID_TOPIC/.test(text)).map(([f]) => f)
    expect(dropping).toEqual(['hooks/refusal.ts'])
  })

  it('composes the aedes hooks in one place: no hook object is wrapped by hand', () => {
    const wrapping = sources().filter(([, text]) => /\bwrap\s*\(\s*hooks\b|Object\.create\(\s*hooks\b/.test(text)).map(([f]) => f)
    expect(wrapping).toEqual([])
    const composing = sources().filter(([, text]) => /\bcomposeHooks\(/.test(text)).map(([f]) => f).sort()
    expect(composing).toEqual(['broker/create-broker.ts'])
  })
})
