// Prints the heaviest functions of a V8 .cpuprofile (self time and inclusive time), for profiling a broker
// run: node bench/lib/top-frames.mjs bench/profiles/<file>.cpuprofile [n] [--files]
// (--files: self time summed per source file, to compare two brokers' profiles)
import { readFileSync } from 'node:fs'

const argv = process.argv.slice(2)
const byFile = argv.includes('--files')
const [file, n = '30'] = argv.filter((a) => a !== '--files')
const prof = JSON.parse(readFileSync(file, 'utf8'))
const nodes = new Map(prof.nodes.map((x) => [x.id, x]))
const parent = new Map()
for (const x of prof.nodes) for (const c of x.children ?? []) parent.set(c, x.id)
const selfTicks = new Map()
for (const id of prof.samples) selfTicks.set(id, (selfTicks.get(id) ?? 0) + 1)
const total = prof.samples.length
const where = (url) => url.replace(/^.*node_modules\//, '').replace(/^file:\/\/\/.*?\/(apps|bench)\//, '$1/')
const key = byFile
  ? (x) => where(x.callFrame.url) || x.callFrame.functionName
  : (x) => `${x.callFrame.functionName || '(anonymous)'} ${where(x.callFrame.url)}:${x.callFrame.lineNumber + 1}`
const self = new Map()
const incl = new Map()
for (const [id, t] of selfTicks) {
  const x = nodes.get(id)
  self.set(key(x), (self.get(key(x)) ?? 0) + t)
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(nodes.get(cur))
    if (seen.has(k)) continue
    seen.add(k)
    incl.set(k, (incl.get(k) ?? 0) + t)
  }
}
const show = (title, m) => {
  console.log(`\n${title} (${total} samples)`)
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) console.log(`${(100 * t / total).toFixed(1).padStart(5)}%  ${k}`)
}
show('self', self)
show('inclusive', incl)
