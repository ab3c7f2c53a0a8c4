// A small parser of the Prometheus text format, enough to check Warden's /metrics.
export interface Sample { readonly name: string, readonly labels: Readonly<Record<string, string>>, readonly value: number }

export interface Exposition {
  readonly samples: readonly Sample[]
  /** metric name → TYPE line's type */
  readonly types: ReadonlyMap<string, string>
  /** the value of the one sample matching name and labels (all given labels must match) */
  value (name: string, labels?: Record<string, string>): number | undefined
}

export function parseExposition (text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name = '', type = ''] = line.split(' ')
      types.set(name, type)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1')
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return {
    samples,
    types,
    value (name, labels = {}) {
      const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
      if (s.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${s.length} samples`)
      return s[0]?.value
    }
  }
}
