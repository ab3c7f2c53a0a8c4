// The defaults README.md's configuration table documents, keyed by config path: `| \`a.b\`, \`.c\` | \`1\`, \`x\` | … |`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export type Documented = ReadonlyMap<string, string | number | boolean>

export function readmeDefaults (root = join(import.meta.dirname, '..', '..')): Documented {
  const out = new Map<string, string | number | boolean>()
  const text = readFileSync(join(root, 'README.md'), 'utf8')
  const section = text.slice(text.indexOf('## Configuration'), text.indexOf('### The config file and the registry'))
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    if (cells.length < 4 || !cells[1]?.startsWith('`')) continue
    const keys = (cells[1].match(/`[^`]+`/g) ?? []).map((k) => k.slice(1, -1))
    const values = (cells[2]?.match(/`[^`]+`/g) ?? []).map((v) => v.slice(1, -1))
    if (values.length !== keys.length) continue
    // `limits.login.lockoutMs`, `.maxLockoutMs` and `limits.connectTimeoutMs`, `heartbeatIntervalMs`: a later
    // key without a dot, or starting with one, is relative to the first key's parent
    const parent = keys[0]?.includes('.') === true ? keys[0].slice(0, keys[0].lastIndexOf('.') + 1) : ''
    keys.forEach((k, i) => {
      const path = i === 0 || (!k.startsWith('.') && k.includes('.')) ? k : parent + k.replace(/^\./, '')
      const v = values[i] as string
      out.set(path, v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v)
    })
  }
  return out
}

/** the value at a dotted path of an object */
export function at (obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj)
}
