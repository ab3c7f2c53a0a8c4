// `npm run bench`: Warden, bare aedes 1.2 and Mosquitto side by side on this machine. Each broker runs in
// its own process, all of them for the whole run; every workload is run against each broker in turn (so
// load from elsewhere on the machine falls on all of them alike), publishers and subscribers in two more
// processes. Options:
//   --quick            a < 2 minute subset
//   --only=a,b         brokers by name (warden, warden-level, aedes, aedes-2, mosquitto, cluster-1, cluster-2)
//   --sections=...     throughput,latency,ownership,connections,cluster,logins,persistent
//   --filter=a,b       only the throughput and latency workloads whose names contain one of these
//   --reps=n           runs per workload and broker (the best is kept); default 2 for the workloads the
//                      targets are about (64 B at QoS 0 and 1, latency, ownership), 1 for the others and
//                      everywhere with --quick
//   --profile=<name>   run that Node broker under --cpu-prof (profiles in bench/profiles/; BENCH_PROF_INTERVAL=µs
//                      samples more often than the default 1000)
//   --flood            QoS 0 publishers follow socket back-pressure only (no PINGREQ window): shows
//                      aedes's collapse under overload rather than its sustainable throughput
//   --quiet-budget=s   seconds the run may spend in all waiting for the machine to be quiet before a
//                      workload (default 60; 10 with --quick)
//   --no-report        do not rewrite BENCHMARKS.md and docs/benchmarks.svg (a full run does by default)
//   --alt-node-args="<flags>"  one more broker, warden-level-alt: Warden (level) with these Node flags instead
//                      of the ones ecosystem.config.js gives the broker (what a flag buys, in the same window)
//   --latency-seconds=s  the measured window of a latency row (default: the run's 2 s, 1.1 with --quick): at
//                      1k msg/s a 2 s window's p99 is its 20th slowest message, i.e. one or two stalls
//   --count[=promises]  the Node brokers count, per delivered message, event-loop iterations, socket writes,
//                      the level store's batches and operations (and promises: slows the broker)
//   --window=n         QoS 1 and 2 publishers keep n messages unacknowledged (default 64 at QoS 1, 16 at QoS 2):
//                      both QoS at one window; the rows' names say it
//   --trace=<dir>      latency rows: every message's send time and latency, and what the Node processes did
//                      meanwhile (GC pauses, timers, each message's read and write in the broker, the
//                      scheduler's waits), one JSON file per run in <dir>; `node bench/tail.mjs <dir>` reads them
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_SCRYPT, hashPassword } from '@warden/broker'
import { runConnections } from './lib/connections.mjs'
import { runLoginStorm, STORM } from './lib/login-storm.mjs'
import { startBroker, waitForQuiet } from './lib/procs.mjs'
import { runTraffic } from './lib/traffic.mjs'
import { latency, ownership, shared, throughput } from './lib/workloads.mjs'
import { BENCH_PASSWORD, USERS } from './lib/warden-config.mjs'
import { writeReport } from './report.mjs'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = join(BENCH_DIR, '..')
// --name=value (the value may hold '=' itself: --alt-node-args=--max-semi-space-size=32), or --name
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const s = a.replace(/^--/, '')
  const eq = s.indexOf('=')
  return eq === -1 ? [s, true] : [s.slice(0, eq), s.slice(eq + 1)]
}))
const quick = args.quick === true
// --quick leaves the persistent-session section out unless asked for (--sections=persistent)
const sections = new Set(String(args.sections ?? `throughput,latency,ownership,connections,cluster,logins${quick ? '' : ',persistent'}`).split(','))
const started = Date.now()

// Warden's brokers run with the Node flags pm2 gives the broker (ecosystem.config.js), as a deployment does
const wardenNodeArgs = createRequire(import.meta.url)(join(ROOT, 'ecosystem.config.js')).apps.find((a) => a.name === 'broker').node_args ?? []

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
  // the aedes Warden runs on, bare: what of a connection's memory is aedes 2's own (connections section only)
  { name: 'aedes-2', label: 'bare aedes 2.0.0-beta.1', kind: 'aedes', aedes2: true, connectionsOnly: true },
  { name: 'mosquitto', label: 'Mosquitto', kind: 'mosquitto' },
  // cluster mode as `WARDEN_INSTANCES=N npm start` runs it: node:cluster workers sharing one port (pm2's
  // cluster mode is node:cluster), the store and the bus on a Redis of their own; only in the cluster section
  { name: 'cluster-1', label: 'Warden cluster, 1 worker', kind: 'warden', persistence: 'redis', workers: 1, passwordHash, cluster: true },
  { name: 'cluster-2', label: 'Warden cluster, 2 workers', kind: 'warden', persistence: 'redis', workers: 2, passwordHash, cluster: true },
  // the persistent-session section only: each durable store beside bare aedes 1.2 on the same store, and
  // Mosquitto with its persistence on (a Redis of their own, its CPU counted as the broker's)
  { name: 'warden-redis', label: 'Warden (redis)', kind: 'warden', persistence: 'redis', passwordHash, durable: true },
  { name: 'aedes-level', label: 'bare aedes + level', kind: 'aedes', store: 'level', durable: true },
  { name: 'aedes-redis', label: 'bare aedes + redis', kind: 'aedes', store: 'redis', durable: true },
  { name: 'mosquitto-persist', label: 'Mosquitto (persistence)', kind: 'mosquitto', persistence: true, durable: true }
]
if (mosquittoVersion === null || !/mosquitto/i.test(mosquittoVersion)) brokers = brokers.filter((b) => b.kind !== 'mosquitto')
if (quick && !sections.has('persistent')) brokers = brokers.filter((b) => b.name !== 'warden-level')
brokers = brokers.map((b) => (b.kind === 'warden' ? { ...b, nodeArgs: wardenNodeArgs } : b))
if (typeof args['alt-node-args'] === 'string') {
  const i = brokers.findIndex((b) => b.name === 'warden-level')
  const flags = args['alt-node-args'].split(/\s+/).filter((f) => f !== '')
  brokers.splice(i + 1, 0, { ...brokers[i], name: 'warden-level-alt', label: `Warden (level, ${flags.join(' ') || 'no Node flags'})`, nodeArgs: flags })
}
if (typeof args.only === 'string') { const only = args.only.split(','); brokers = brokers.filter((b) => only.includes(b.name)) }
// --count[=promises]: the Node brokers count per delivered message (bench/broker-child.mjs)
if (args.count !== undefined) brokers = brokers.map((b) => (b.kind === 'mosquitto' ? b : { ...b, count: args.count === true ? true : String(args.count) }))
const traceDir = typeof args.trace === 'string' ? resolve(args.trace) : null
if (traceDir !== null) {
  mkdirSync(traceDir, { recursive: true })
  brokers = brokers.map((b) => ({ ...b, trace: true }))
}

const timing = quick ? { warmupMs: 400, durationMs: 1100 } : { warmupMs: 500, durationMs: 2000 }
// A fixed-rate latency row warms up at its rate for seconds, every broker alike: a Node broker's code is
// compiled by V8 as it runs, and at 1k msg/s half a second is 500 messages — measured from there, Warden's CPU
// per message was 180–360 µs with V8's compiler threads busy beside it, 125–157 µs from 4–8 s on (Mosquitto,
// native code, 75–100 either way). A broker runs for days: the row measures it warm.
const latencyWarmupMs = quick ? 3000 : 5000
const latencyTiming = args['latency-seconds'] !== undefined ? { durationMs: Number(args['latency-seconds']) * 1000 } : {}
const KEY = (w) => w.payloadSize === 64 && (w.qos === 0 || w.qos === 1) && !w.shape.includes('persistent')
const repsOf = (w) => args.reps !== undefined ? Number(args.reps) : quick ? 1 : KEY(w) ? 2 : 1
const matrix = quick
  ? [throughput('pairs', 0, 64), throughput('pairs', 1, 64), throughput('pairs', 2, 64), throughput('fan-in', 0, 64), throughput('fan-out', 1, 64)]
  : ['fan-in', 'fan-out', 'pairs'].flatMap((shape) => [0, 1, 2].flatMap((qos) => [throughput(shape, qos, 64), throughput(shape, qos, 4096)]))
// MQTT 5 beside the same 3.1.1 rows: what speaking v5 costs (target: v5 QoS 1 within 1.1× of 3.1.1)
const v5 = { mqtt5: true }
matrix.push(throughput('pairs', 1, 64, v5), ...(quick ? [] : [throughput('pairs', 0, 64, v5), throughput('fan-out', 1, 64, v5)]))
matrix.push(shared(1), ...(quick ? [] : [shared(2)]))
// persistent sessions last: their stored subscriptions stay in the broker
if (!quick) matrix.push(throughput('pairs', 1, 64, { persistent: true }))
if (args.window !== undefined && !(Number.isInteger(Number(args.window)) && Number(args.window) >= 1 && Number(args.window) <= 65535)) {
  console.error(`--window must be a whole number from 1 to 65535, got ${String(args.window)}`)
  process.exit(2)
}
/** the workload with --window's window, if given (QoS 0 has none) */
const windowed = (w) => args.window === undefined || w.qos === 0 ? w : { ...w, window: Number(args.window), name: `${w.name} window ${Number(args.window)}` }
matrix.splice(0, matrix.length, ...matrix.map(windowed))
if (typeof args.filter === 'string') {
  const keep = (w) => args.filter.split(',').some((f) => w.name.includes(f))
  matrix.splice(0, matrix.length, ...matrix.filter(keep))
}
const latencies = quick ? [latency(1, 1000)] : [latency(0, 1000), latency(1, 1000), latency(0, 10000), latency(1, 10000)]
if (typeof args.filter === 'string') latencies.splice(0, latencies.length, ...latencies.filter((w) => args.filter.split(',').some((f) => w.name.includes(f))))
// what a second worker buys: the workloads of the targets, on 1 and 2 cluster workers, against one Warden
// process on its embedded store and Mosquitto
const clusterMatrix = quick
  ? [throughput('pairs', 1, 64), shared(1)]
  : [throughput('pairs', 0, 64), throughput('pairs', 1, 64), throughput('pairs', 2, 64), throughput('fan-in', 1, 64), throughput('fan-out', 1, 64), shared(1)]
if (typeof args.filter === 'string') {
  clusterMatrix.splice(0, clusterMatrix.length, ...clusterMatrix.filter((w) => args.filter.split(',').some((f) => w.name.includes(f))))
}
const registrationCounts = quick ? [10, 100000] : [10, 1000, 100000]
const connectionCounts = quick ? [1000] : [1000, 10000]
const flood = args.flood === true ? { pingWindow: 0 } : {}

const results = {
  meta: {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    cpu: `${cpus()[0]?.model ?? '?'} × ${cpus().length}`,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    /** the bare aedes row's; Warden runs on `wardenAedes` */
    aedes: JSON.parse(readFileSync(join(ROOT, 'node_modules/aedes-1.2/package.json'), 'utf8')).version,
    wardenAedes: JSON.parse(readFileSync(join(ROOT, 'node_modules/aedes/package.json'), 'utf8')).version,
    mosquitto: mosquittoVersion,
    wardenNodeArgs,
    scrypt: SCRYPT,
    timing,
    flood: args.flood === true
  },
  brokers: brokers.map(({ name, label, kind, persistence, store, workers, durable }) =>
    ({ name, label, kind, persistence: persistence ?? store ?? null, workers: workers ?? null, durable: durable === true })),
  throughput: [],
  latency: [],
  ownership: [],
  connections: [],
  cluster: [],
  persistent: [],
  logins: [],
  failures: []
}

/** aedes 1.2 has no shared subscriptions: it takes `$share/…` as a topic that never matches */
// bare aedes is 1.2 (the floor of the 3.1.1 rows): no shared subscriptions, no MQTT 5
const canRun = (b, w) => (w.sharedSubscriptions !== true && w.protocolVersion !== 5) || b.kind !== 'aedes'

const fmt = (x, d = 1) => x === null || x === undefined ? '-' : Number(x).toFixed(d)
function logRow (broker, r, rep) {
  const lat = r.latency ? ` p50 ${fmt(r.latency.p50 / 1000, 2)} ms p99 ${fmt(r.latency.p99 / 1000, 2)} ms max ${fmt(r.latency.max / 1000, 2)} ms` : ''
  const redis = r.redisCores !== undefined
    ? ` (redis ${fmt(r.redisCores * 100, 0)}%${r.crossed !== undefined && r.crossed !== null ? `, crossed ${fmt(r.crossed * 100, 0)}%` : ''})`
    : ''
  console.log(`${broker.padEnd(13)} ${(r.workload + (rep > 0 ? ` #${rep + 1}` : '')).padEnd(30)} ` +
    `${fmt(r.deliveredPerSec, 0).padStart(8)} msg/s ${fmt(r.brokerUsPerMsg, 2).padStart(6)} µs/msg` +
    ` broker ${fmt(r.brokerCores * 100, 0)}% pub ${fmt(r.pubCores * 100, 0)}% sub ${fmt(r.subCores * 100, 0)}%` +
    ` other ${fmt(r.otherCores * 100, 0)}% irq ${fmt(r.irqCores * 100, 0)}%` +
    ` lost ${r.lost}${r.dup ? ' dup ' + r.dup : ''}${lat}${redis}` +
    `${r.balance !== undefined ? ` members ${Object.values(r.groups).flat().join('/')}` : ''} [limit: ${r.limit}]`)
  if (r.perMsg !== undefined) {
    const counted = Object.entries(r.perMsg).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${fmt(v, 3)}`)
    console.log(`${''.padEnd(13)} per delivered message: ${counted.join(', ')}`)
  }
}

// Before each run, wait (a while) for the machine to be quiet: other work on these two cores skews every
// figure, latency most. The total wait is capped so that a busy machine still gets a result.
let quietBudgetMs = Number(args['quiet-budget'] ?? (quick ? 10 : 60)) * 1000
async function quiet () {
  if (quietBudgetMs <= 0) return { waitedMs: 0, busyCores: null }
  const q = await waitForQuiet(Math.min(quietBudgetMs, 20000))
  quietBudgetMs -= q.waitedMs
  return q
}

/** A running broker; a workload that kills it is reported and the next one gets a fresh one. */
async function launch (b) {
  const profile = args.profile === b.name ? { profileDir: join(BENCH_DIR, 'profiles') } : {}
  if (profile.profileDir) mkdirSync(profile.profileDir, { recursive: true })
  const h = { b, broker: await startBroker(b, profile) }
  // start-up garbage (100k registrations seeded, schemas compiled) is collected now, not while measuring
  await h.broker.sample(true)
  h.run = async (label, fn) => {
    try {
      return await fn(h.broker)
    } catch (err) {
      console.log(`${b.name.padEnd(13)} ${label.padEnd(30)} FAILED: ${err.message}`)
      results.failures.push({ broker: b.name, workload: label, error: err.message })
      await h.broker.stop().catch(() => {})
      h.broker = await startBroker(b, profile)
      return null
    }
  }
  h.stop = () => h.broker.stop()
  return h
}

/**
 * Runs a workload reps times against each broker, alternating brokers; keeps each broker's best run (least
 * CPU per message: load from elsewhere only ever adds). `w` is a workload, or a function of the handle.
 */
async function compare (handles, w, reps) {
  const runs = new Map(handles.map((h) => [h.b.name, []]))
  for (let rep = 0; rep < reps; rep++) {
    // rotate the order so that no broker always runs first
    const order = handles.map((_, i) => handles[(i + rep) % handles.length])
    for (const h of order) {
      const wl = typeof w === 'function' ? w(h) : w
      const q = await quiet()
      const r = await h.run(wl.name, (broker) => runTraffic(broker, { ...timing, ...wl, ...flood }))
      if (r === null) continue
      r.busyBefore = q.busyCores
      if (r.trace !== undefined) {
        const file = join(traceDir, `${h.b.name}-${wl.name.replace(/[^\w]+/g, '-')}-${rep + 1}-${Date.now()}.json`)
        const head = { broker: h.b.name, workload: wl.name, rep: rep + 1, latency: r.latency, brokerUsPerMsg: r.brokerUsPerMsg, otherCores: r.otherCores }
        writeFileSync(file, JSON.stringify({ ...head, ...r.trace }))
        delete r.trace
      }
      logRow(h.b.name, r, rep)
      runs.get(h.b.name).push(r)
    }
  }
  const out = []
  for (const [name, rs] of runs) {
    if (rs.length === 0) continue
    // latency runs: the best p99; others: the least CPU per message
    const score = (r) => r.latency !== null ? r.latency.p99 : (r.brokerUsPerMsg ?? Infinity)
    const best = rs.reduce((a, b) => (score(b) < score(a) ? b : a))
    out.push({
      broker: name,
      ...best,
      // losses count in every run, not only the best one
      lost: rs.reduce((s, r) => s + r.lost, 0),
      dup: rs.reduce((s, r) => s + r.dup, 0),
      runs: rs.length,
      usPerMsgRuns: rs.map((r) => r.brokerUsPerMsg),
      p99Runs: best.latency !== null ? rs.map((r) => r.latency?.p99 ?? null) : undefined
    })
  }
  return out
}

console.log(`warden bench (${results.meta.mode}) — ${results.meta.cpu}, node ${process.version}, ` +
  `Warden on aedes ${results.meta.wardenAedes}, bare aedes ${results.meta.aedes}, ${mosquittoVersion ?? 'no mosquitto'}`)
console.log('Warden clients authenticate with username + scrypt passwordHash (N=1024, r=8, p=1); idle-connection clients connect anonymously with role "idle".')

if (sections.has('throughput') || sections.has('latency')) {
  const handles = []
  for (const b of brokers.filter((x) => x.cluster !== true && x.durable !== true && x.connectionsOnly !== true)) handles.push(await launch(b))
  try {
    if (sections.has('throughput')) {
      for (const w of matrix) {
        const hs = handles.filter((h) => (h.b.name !== 'warden-level' || w.payloadSize === 64) && canRun(h.b, w))
        results.throughput.push(...await compare(hs, w, repsOf(w)))
      }
    }
    if (sections.has('latency')) {
      for (const w of latencies) {
        // the level store matters for QoS 1 (stored before PUBACK): once, at the rate of the target
        const hs = handles.filter((h) => h.b.name !== 'warden-level' || (w.qos === 1 && w.rate === 1000))
        const reps = args.reps !== undefined ? Number(args.reps) : quick ? 1 : 2
        results.latency.push(...await compare(hs, { ...w, warmupMs: latencyWarmupMs, ...latencyTiming, trace: traceDir !== null }, reps))
      }
    }
  } finally {
    for (const h of handles) await h.stop()
  }
}

if (sections.has('cluster') && brokers.some((b) => b.cluster === true)) {
  const handles = []
  for (const b of brokers.filter((x) => x.name === 'warden' || x.kind === 'mosquitto' || x.cluster === true)) handles.push(await launch(b))
  try {
    for (const w of clusterMatrix) {
      const reps = args.reps !== undefined ? Number(args.reps) : quick ? 1 : w.name === 'pairs q1 64B' ? 2 : 1
      results.cluster.push(...await compare(handles.filter((h) => canRun(h.b, w)), w, reps))
    }
  } finally {
    for (const h of handles) await h.stop()
  }
}

// persistent sessions (clean=false subscribers, QoS 1 and 2) on the durable stores: Warden on level and on
// Redis, bare aedes 1.2 on the same two stores, Mosquitto with persistence on
const persistentMatrix = [1, 2].flatMap((qos) => ['pairs', 'fan4'].map((shape) => windowed(throughput(shape, qos, 64, { persistent: true }))))
  // QoS 2 from publishers whose sessions outlive their connections: their packets awaiting PUBREL are stored too
  .concat([windowed(throughput('pairs', 2, 64, { persistent: true, persistentPublishers: true }))])
  .filter((w) => typeof args.filter !== 'string' || args.filter.split(',').some((f) => w.name.includes(f)))
const persistentBrokers = brokers.filter((b) => b.durable === true || b.name === 'warden-level')
if (sections.has('persistent') && persistentBrokers.length > 0 && persistentMatrix.length > 0) {
  const handles = []
  for (const b of persistentBrokers) handles.push(await launch(b))
  try {
    for (const w of persistentMatrix) {
      results.persistent.push(...await compare(handles, w, args.reps !== undefined ? Number(args.reps) : quick ? 1 : 2))
    }
  } finally {
    for (const h of handles) await h.stop()
  }
}

const warden = brokers.find((b) => b.name === 'warden')
if (sections.has('ownership') && warden !== undefined) {
  const handles = []
  // and 100k once more with the control plane's per-registration rate sampling slowed to once a minute:
  // it walks every registration each interval, which is not the publish path but costs in proportion
  const variants = [...registrationCounts.map((n) => ({ n, samplerOff: false })), { n: registrationCounts[registrationCounts.length - 1], samplerOff: true }]
  for (const v of variants) {
    const h = await launch({
      ...warden,
      name: `warden-${v.n}${v.samplerOff ? '-nosampler' : ''}`,
      registrations: v.n,
      ...(v.samplerOff ? { statsIntervalMs: 60000 } : {})
    })
    Object.assign(h, v)
    handles.push(h)
  }
  try {
    const reps = args.reps !== undefined ? Number(args.reps) : quick ? 1 : 2
    const rows = await compare(handles, (h) => ({ ...ownership(h.n), name: `ownership ${h.n}${h.samplerOff ? ' (sampler 60 s)' : ''}` }), reps)
    for (const h of handles) {
      const r = rows.find((x) => x.broker === h.b.name)
      if (r !== undefined) results.ownership.push({ ...r, broker: 'warden', registrations: h.n, samplerOff: h.samplerOff })
    }
  } finally {
    for (const h of handles) await h.stop()
  }
}

if (sections.has('connections')) {
  for (const b of brokers.filter((x) => x.name !== 'warden-level' && x.cluster !== true && x.durable !== true)) {
    for (const n of connectionCounts) {
      // a fresh broker for each count: the memory it gains is the connections'
      const h = await launch(b)
      try {
        const r = await h.run(`idle ${n}`, (broker) => runConnections(broker, n))
        if (r === null) continue
        console.log(`${b.name.padEnd(13)} ${r.workload.padEnd(30)} ${fmt(r.rssPerConnKiB, 1)} KiB RSS/conn, ` +
          `${fmt(r.heapPerConnKiB, 1)} KiB heap/conn, ${fmt(r.connectPerSec, 0)} conn/s`)
        results.connections.push({ broker: b.name, ...r })
      } finally {
        await h.stop()
      }
    }
  }
}

if (sections.has('logins')) {
  // password logins at the production scrypt cost (what a guess costs the broker), and Mosquitto with a
  // password file of the same accounts; bare aedes has no authentication at all (every CONNECT accepted)
  const productionHash = await hashPassword(BENCH_PASSWORD, DEFAULT_SCRYPT)
  const accounts = [...STORM.usernames, ...Array.from({ length: USERS.subs }, (_, i) => `sub-${i}`)].map((u) => [u, BENCH_PASSWORD])
  for (const b of brokers.filter((x) => x.name === 'warden' || x.kind === 'aedes' || x.kind === 'mosquitto')) {
    const h = await launch(b.kind === 'warden' ? { ...b, passwordHash: productionHash } : b.kind === 'mosquitto' ? { ...b, passwords: accounts } : b)
    try {
      await quiet()
      const r = await h.run('login storm', (broker) => runLoginStorm(broker, { durationMs: quick ? 10000 : 20000 }))
      if (r === null) continue
      console.log(`${b.name.padEnd(13)} ${r.workload.padEnd(30)} honest CONNACK 0 ${r.honestAccepted}/${r.honest}, ` +
        `p50 ${fmt(r.p50Ms, 0)} ms p99 ${fmt(r.p99Ms, 0)} ms max ${fmt(r.maxMs, 0)} ms first ${fmt(r.firstMs, 0)} ms; ` +
        `storm ${JSON.stringify(r.storm)}; broker ${fmt(r.brokerCores * 100, 0)}%`)
      results.logins.push({ broker: b.name, ...r })
    } finally {
      await h.stop()
    }
  }
}

results.meta.elapsedSec = Math.round((Date.now() - started) / 1000)
results.meta.quietWaitSec = Math.round((Number(args['quiet-budget'] ?? (quick ? 10 : 60)) * 1000 - quietBudgetMs) / 1000)
mkdirSync(join(BENCH_DIR, 'results'), { recursive: true })
// a partial run (some brokers, sections or workloads) does not replace the last complete one
const partial = typeof args.only === 'string' || args.sections !== undefined || typeof args.filter === 'string' ||
  args.reps !== undefined || args.flood === true || args['latency-seconds'] !== undefined || args['alt-node-args'] !== undefined
const out = join(BENCH_DIR, 'results', `latest-${results.meta.mode}${partial ? '-partial' : ''}.json`)
writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
console.log(`\n${results.meta.elapsedSec} s; results in ${out}`)
if (results.failures.length > 0) console.log(`FAILED: ${results.failures.map((f) => `${f.broker} ${f.workload}`).join('; ')}`)
if (!quick && !partial && args['no-report'] !== true) {
  const written = writeReport(results, ROOT)
  console.log(`wrote ${written.join(', ')}`)
}
