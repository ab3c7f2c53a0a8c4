// docs/grafana/warden-dashboard.json queries only what /metrics exposes: every metric a query selects is a
// metric of a real broker's scrape, and every label it groups by is a label of that metric.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, expect, it } from 'vitest'
import { get } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { parseExposition, type Exposition } from '../helpers/prometheus.js'
import { ROOT } from '../helpers/process.js'
import { connectPacket, encode, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

interface Target { expr: string }
interface Panel { id: number, title: string, datasource: { uid: string }, targets: Target[] }
interface Dashboard { panels: Panel[], templating: { list: Array<{ name: string, query?: string }> } }

const scope = useScope()
let dashboard: Dashboard
let m: Exposition

beforeAll(async () => {
  dashboard = JSON.parse(await readFile(join(ROOT, 'docs/grafana/warden-dashboard.json'), 'utf8')) as Dashboard
  await scope.start()
  // traffic that gives every labelled series a sample: messages at each QoS, a refusal, a queued session,
  // a retained message and a refused protocol version
  const reader = await scope.client('dashboard', { clientId: 'grafana-keep', clean: false })
  const s1 = await scope.client('sensor-1')
  const s2 = await scope.client('sensor-2')
  await subscribe(reader, 'sensors/#', 2)
  for (let i = 0; i < 16; i++) await publish(s1, 'sensors/sensor-1/t', `m${i}`, { qos: (i % 3) as 0 | 1 | 2, retain: i === 0 })
  await publish(s2, 'sensors/sensor-1/t', 'forged', { qos: 1 })
  await reader.waitFor((msg) => msg.payload.toString() === 'm15')
  const raw = scope.track(await rawClient(scope.tb.port))
  const bytes = encode(connectPacket('sensor-1', 'v6'))
  bytes[8] = 6
  raw.send(bytes)
  await raw.closed()
  const r = await get(scope.tb, '/metrics', { as: 'observer' })
  m = parseExposition(r.body as string)
})

/** metric names of an exposition: TYPE lines, and a histogram's series */
function exposed (e: Exposition): Set<string> {
  const names = new Set<string>()
  for (const [name, type] of e.types) {
    names.add(name)
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s)
  }
  return names
}

it('has panels, each on the dashboard\'s data source variable, with unique ids', () => {
  expect(dashboard.panels.length).toBeGreaterThanOrEqual(10)
  expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length)
  for (const p of dashboard.panels) {
    expect(p.datasource.uid, p.title).toBe('$' + '{datasource}')
    expect(p.targets.length, p.title).toBeGreaterThan(0)
  }
})

it('every metric a query selects is exposed by /metrics, and every label it groups by exists on it', () => {
  const names = exposed(m)
  const queries = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr }))),
    ...dashboard.templating.list.filter((v) => v.query?.includes('(') === true).map((v) => ({ where: `variable ${v.name}`, expr: v.query as string }))
  ]
  let selectors = 0
  for (const { where, expr } of queries) {
    // a selector: a name followed by {matchers} or [range], or the first argument of label_values()
    const selected = [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=[{[])/g), ...expr.matchAll(/label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)/g)]
      .map((x) => x[1] as string)
    expect(selected.length, `${where}: ${expr}`).toBeGreaterThan(0)
    for (const name of selected) {
      selectors++
      expect(names.has(name), `${where}: ${name} is not in /metrics`).toBe(true)
    }
    for (const by of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
      for (const label of (by[1] as string).split(',').map((l) => l.trim())) {
        const has = m.samples.some((s) => selected.includes(s.name) && label in s.labels)
        expect(has, `${where}: no series of ${selected.join(', ')} has the label ${label}`).toBe(true)
      }
    }
  }
  expect(selectors).toBeGreaterThanOrEqual(15)
})
