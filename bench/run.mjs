// `npm run bench`: Warden, bare aedes 1.2 and Mosquitto side by side on this machine. Each broker runs in
// its own process; publishers and subscribers run in two more. Options:
//   --quick            a < 2 minute subset
//   --only=a,b         brokers by name (warden, warden-level, aedes, mosquitto)
//   --sections=...     throughput,latency,ownership,connections
//   --profile=<name>   run that Node broker under --cpu-prof (profiles in bench/profiles/)
//   --flood            QoS 0 publishers follow socket back-pressure only (no PINGREQ window): shows
//                      aedes's collapse under overload rather than its sustainable throughput
//   --no-report        do not rewrite BENCHMARKS.md and docs/benchmarks.svg (a full run does by default)
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hashPassword } from '@warden/broker'
import { runConnections } from './lib/connections.mjs'
import { startBroker } from './lib/procs.mjs'
import { runTraffic } from './lib/traffic.mjs'
import { latency, ownership, throughput } from './lib/workloads.mjs'
import { BENCH_PASSWORD } from './lib/warden-config.mjs'
import { writeReport } from './report.mjs'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = join(BENCH_DIR, '..')
const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, '').split('='); return [k, v ?? true] }))
const quick = args.quick === true
const sections = new Set(String(args.sections ?? 'throughput,latency,ownership,connections').split(','))
const started = Date.now()

const mosquittoVersion = (() => {
  try { return execFileSync('mosquitto', ['-h'], { encoding: 'utf8' }).split('\n')[0] } catch (err) { return (err.stdout ?? '').split('\n')[0] || null }
})()

// low scrypt cost for the bench accounts, so connection set-up is not dominated by hashing
const SCRYPT = { N: 1024, r: 8, p: 1 }
const passwordHash = await hashPassword(BENCH_PASSWORD, SCRYPT)

let brokers = [
  { name: 'warden', label: 'Warden (memory)', kind: 'warden', persistence: 'memory', passwordHash },
  { name: 'warden-level', label: 'Warden (level)', kind: 'warden', persistence: 'level', passwordHash },
  { name: 'aedes', label: 'bare aedes', kind: 'aedes' },
  { name: 'mosquitto', label: 'Mosquitto', kind: 'mosquitto' }
]
if (mosquittoVersion === null || !/mosquitto/i.test(mosquittoVersion)) brokers = brokers.filter((b) => b.kind !== 'mosquitto')
if (quick) brokers = brokers.filter((b) => b.name !== 'warden-level')
if (typeof args.only === 'string') { const only = args.only.split(','); brokers = brokers.filter((b) => only.includes(b.name)) }

const timing = quick ? { warmupMs: 500, durationMs: 1500 } : { warmupMs: 1000, durationMs: 3000 }
const matrix = quick
  ? [throughput('pairs', 0, 64), throughput('pairs', 1, 64), throughput('pairs', 2, 64), throughput('fan-in', 0, 64), throughput('fan-out', 1, 64)]
  : ['fan-in', 'fan-out', 'pairs'].flatMap((shape) => [0, 1, 2].flatMap((qos) => [throughput(shape, qos, 64), throughput(shape, qos, 4096)]))
// persistent sessions last: their stored subscriptions stay in the broker
if (!quick) matrix.push(throughput('pairs', 1, 64, { persistent: true }))
const latencies = quick ? [latency(1, 1000)] : [latency(0, 1000), latency(1, 1000), latency(0, 10000), latency(1, 10000)]
const registrationCounts = quick ? [10, 100000] : [10, 1000, 100000]
const connectionCounts = quick ? [1000] : [1000, 10000]

const results = {
  meta: {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    cpu: `${cpus()[0]?.model ?? '?'} × ${cpus().length}`,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    aedes: JSON.parse(readFileSync(join(ROOT, 'node_modules/aedes/package.json'), 'utf8')).version,
    mosquitto: mosquittoVersion,
    scrypt: SCRYPT,
    timing,
    flood: args.flood === true
  },
  brokers: brokers.map(({ name, label, kind, persistence }) => ({ name, label, kind, persistence: persistence ?? null })),
  throughput: [],
  latency: [],
  ownership: [],
  connections: [],
  failures: []
}
const flood = args.flood === true ? { pingWindow: 0 } : {}

const fmt = (x, d = 1) => x === null || x === undefined ? '-' : Number(x).toFixed(d)
function logRow (broker, r) {
  const lat = r.latency ? ` p50 ${fmt(r.latency.p50 / 1000, 2)} ms p99 ${fmt(r.latency.p99 / 1000, 2)} ms max ${fmt(r.latency.max / 1000, 2)} ms` : ''
  console.log(`${broker.padEnd(13)} ${r.workload.padEnd(30)} ${fmt(r.deliveredPerSec, 0).padStart(8)} msg/s ${fmt(r.brokerUsPerMsg, 2).padStart(6)} µs/msg` +
    ` broker ${fmt(r.brokerCores * 100, 0)}% pub ${fmt(r.pubCores * 100, 0)}% sub ${fmt(r.subCores * 100, 0)}% other ${fmt(r.otherCores * 100, 0)}% irq ${fmt(r.irqCores * 100, 0)}%` +
    ` lost ${r.lost}${r.dup ? ' dup ' + r.dup : ''}${lat} [limit: ${r.limit}]`)
}

async function withBroker (b, fn) {
  const profile = args.profile === b.name ? { profileDir: join(BENCH_DIR, 'profiles') } : {}
  if (profile.profileDir) mkdirSync(profile.profileDir, { recursive: true })
  const holder = { broker: await startBroker(b, profile) }
  // a workload that kills the broker is reported; the next one gets a fresh broker
  holder.restart = async () => {
    await holder.broker.stop().catch(() => {})
    holder.broker = await startBroker(b, profile)
  }
  try { return await fn(holder) } finally { await holder.broker.stop() }
}

async function attempt (holder, brokerName, workload, fn) {
  try {
    return await fn(holder.broker)
  } catch (err) {
    console.log(`${brokerName.padEnd(13)} ${workload.padEnd(30)} FAILED: ${err.message}`)
    await holder.restart()
    return null
  }
}

console.log(`warden bench (${results.meta.mode}) — ${results.meta.cpu}, node ${process.version}, aedes ${results.meta.aedes}, ${mosquittoVersion ?? 'no mosquitto'}`)
console.log('Warden clients authenticate with username + scrypt passwordHash (N=1024, r=8, p=1); idle-connection clients connect anonymously with role "idle".')

for (const b of brokers) {
  if (!sections.has('throughput') && !sections.has('latency')) break
  await withBroker(b, async (holder) => {
    const cells = [
      ...(sections.has('throughput') ? matrix.filter((w) => b.name !== 'warden-level' || w.payloadSize === 64) : []),
      ...(sections.has('latency') ? latencies : [])
    ]
    for (const w of cells) {
      const r = await attempt(holder, b.name, w.name, (broker) => runTraffic(broker, { ...w, ...timing, ...flood }))
      if (r === null) { results.failures.push({ broker: b.name, workload: w.name }); continue }
      logRow(b.name, r)
      ;(w.rate === undefined ? results.throughput : results.latency).push({ broker: b.name, ...r })
    }
  })
}

const warden = brokers.find((b) => b.name === 'warden')
if (sections.has('ownership') && warden !== undefined) {
  for (const n of registrationCounts) {
    await withBroker({ ...warden, registrations: n }, async (holder) => {
      const r = await attempt(holder, 'warden', `ownership ${n}`, (broker) => runTraffic(broker, { ...ownership(n), ...timing }))
      if (r === null) { results.failures.push({ broker: 'warden', workload: `ownership ${n}` }); return }
      r.workload = `ownership ${n}`
      logRow('warden', r)
      results.ownership.push({ broker: 'warden', registrations: n, ...r })
    })
  }
}

if (sections.has('connections')) {
  for (const b of brokers.filter((x) => x.name !== 'warden-level')) {
    for (const n of connectionCounts) {
      await withBroker(b, async (holder) => {
        const r = await attempt(holder, b.name, `idle ${n}`, (broker) => runConnections(broker, n))
        if (r === null) { results.failures.push({ broker: b.name, workload: `idle ${n}` }); return }
        console.log(`${b.name.padEnd(13)} ${r.workload.padEnd(30)} ${fmt(r.rssPerConnKiB, 1)} KiB RSS/conn, ${fmt(r.heapPerConnKiB, 1)} KiB heap/conn, ${fmt(r.connectPerSec, 0)} conn/s`)
        results.connections.push({ broker: b.name, ...r })
      })
    }
  }
}

results.meta.elapsedSec = Math.round((Date.now() - started) / 1000)
mkdirSync(join(BENCH_DIR, 'results'), { recursive: true })
const out = join(BENCH_DIR, 'results', `latest-${results.meta.mode}.json`)
writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
console.log(`\n${results.meta.elapsedSec} s; results in ${out}`)
if (!quick && args['no-report'] !== true) {
  const written = writeReport(results, ROOT)
  console.log(`wrote ${written.join(', ')}`)
}
