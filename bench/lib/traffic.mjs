// Runs one traffic workload against a running broker: a subscriber process and a publisher process,
// a warm-up, a measured window sampled from every process's own CPU accounting, then a drain to count
// loss. Returns the figures for one table row.
import { readFileSync } from 'node:fs'
import { machineBusyUs, spawnGenerator, spawnStallProbe } from './procs.mjs'
import { procSched } from './proc-stat.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A generator process at or above this share of one core was, or was close to, the limit. */
const SATURATED = 0.9

/**
 * @param broker a handle from startBroker
 * @param w { name, shape, qos, payloadSize, pubs: client[], subs: client[], rate?, window?, latency?, warmupMs, durationMs }
 *   pubs[i] = { clientId, username, password, topic, pubIndex, clean }; subs[i] = { clientId, username, password, subs, from, clean }
 */
export async function runTraffic (broker, w) {
  const common = {
    port: broker.port, qos: w.qos, payloadSize: w.payloadSize, pubCount: w.pubs.length, protocolVersion: w.protocolVersion ?? 4, trace: w.trace === true
  }
  const subGen = spawnGenerator({ ...common, role: 'sub', clients: w.subs })
  const probe = w.trace === true ? spawnStallProbe() : null
  let pubGen
  try {
    const realtime = probe === null ? null : (await probe.ready).realtime
    await subGen.ready
    pubGen = spawnGenerator({
      ...common,
      role: 'pub',
      clients: w.pubs,
      rate: w.rate ?? 0,
      window: w.window ?? 64,
      stamp: w.latency === true,
      ...(w.pingWindow !== undefined ? { pingWindow: w.pingWindow } : {})
    })
    await pubGen.ready
    await pubGen.request('start')
    await sleep(w.warmupMs)
    const pids = { broker: broker.pid, pub: pubGen.pid, sub: subGen.pid }
    const machine = w.trace === true ? machineTimeline() : null
    if (w.trace === true) await Promise.all([broker.trace(true), probe.request('start')])
    if (w.latency === true) await subGen.request('reset')
    const sched0 = w.trace === true ? schedOf(pids) : null
    const s0 = await sampleAll(broker, pubGen, subGen)
    await sleep(w.durationMs)
    const s1 = await sampleAll(broker, pubGen, subGen)
    const { sent, unacked } = await pubGen.request('stop', {}, 30000)
    // a group's members share one copy of the stream
    const readers = w.subs.filter((s, i) => s.group === undefined || w.subs.findIndex((x) => x.group === s.group) === i)
    const expected = readers.reduce((n, s) => n + s.from.reduce((m, pi) => m + (sent[pi] ?? 0), 0), 0)
    await drain(subGen, expected, w.qos)
    const sched1 = w.trace === true ? schedOf(pids) : null
    const brokerTrace = w.trace === true ? await broker.trace(false) : null
    const stalls = probe === null ? null : { realtime, late: (await probe.request('stop')).late }
    const report = await subGen.request('report', { sent, raw: w.raw === true || w.trace === true })
    const r = figures(w, s0, s1, { ...report, expected, unacked }, broker.workers ?? 1)
    if (w.trace === true) {
      r.trace = {
        samples: { sentAt: report.rawSentAt, latency: report.raw },
        broker: brokerTrace,
        sub: report.trace,
        sched: { from: sched0, to: sched1 },
        machine: machine.stop(),
        stalls
      }
      delete r.raw
    }
    return r
  } finally {
    await Promise.all([subGen.close(), pubGen?.close(), probe?.close()])
  }
}

/** --trace: each process's scheduler account (time waiting for a core), µs */
function schedOf (pids) {
  const out = {}
  for (const [k, pid] of Object.entries(pids)) {
    try { out[k] = procSched(pid) } catch { out[k] = null }
  }
  return out
}

/**
 * --trace: the whole machine every 50 ms (/proc/stat, cores busy in processes, interrupts, stolen by the
 * hypervisor): [hrtime µs, task, irq, steal] in cores, to set beside the slow messages
 */
function machineTimeline () {
  const read = () => {
    const v = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    return { t: Number(process.hrtime.bigint()) / 1e3, task: v[0] + v[1] + v[2], irq: v[5] + v[6], steal: v[7] }
  }
  const rows = []
  let last = read()
  const timer = setInterval(() => {
    const x = read()
    const dt = (x.t - last.t) / 1e6 * 100 // ticks of USER_HZ in the interval
    rows.push([x.t, (x.task - last.task) / dt, (x.irq - last.irq) / dt, (x.steal - last.steal) / dt])
    last = x
  }, 50)
  return { stop () { clearInterval(timer); return rows } }
}

async function sampleAll (broker, pubGen, subGen) {
  const [b, p, s] = await Promise.all([broker.sample(), pubGen.request('sample'), subGen.request('sample')])
  return { broker: b, pub: p, sub: s, machine: machineBusyUs() }
}

/** Waits until the subscribers have every message, or (QoS 0, or something lost) nothing arrives for a second. */
async function drain (subGen, expected, qos) {
  let last = -1
  let quietSince = Date.now()
  const deadline = Date.now() + 60000
  while (Date.now() < deadline) {
    const { count } = await subGen.request('sample')
    if (count >= expected) return
    if (count !== last) { last = count; quietSince = Date.now() }
    if (Date.now() - quietSince > (qos === 0 ? 1000 : 5000)) return
    await sleep(50)
  }
}

function perMessage (a, b, delivered) {
  const out = {}
  for (const k of Object.keys(b)) out[k] = b[k] === null || delivered === 0 ? null : (b[k] - a[k]) / delivered
  return out
}

function figures (w, s0, s1, r, workers) {
  const dt = (s1.sub.t - s0.sub.t) / 1e6 // s
  const delivered = s1.sub.count - s0.sub.count
  const brokerCpu = s1.broker.cpu - s0.broker.cpu // µs
  const share = (a, b) => (b.cpu - a.cpu) / ((b.t - a.t) || 1) // cores
  const brokerCores = brokerCpu / (dt * 1e6)
  const pubCores = share(s0.pub, s1.pub)
  const subCores = share(s0.sub, s1.sub)
  const taskCores = (s1.machine.task - s0.machine.task) / (dt * 1e6)
  const irqCores = (s1.machine.irq - s0.machine.irq) / (dt * 1e6)
  const machineCores = taskCores + irqCores
  // other processes on the machine (other people's work shares these two cores)
  const otherCores = Math.max(0, taskCores - brokerCores - pubCores - subCores)
  const genMax = Math.max(pubCores, subCores)
  let limit = 'broker'
  // several broker processes (cluster mode) can use every core: then the two cores are the limit
  if (workers > 1 && machineCores >= 1.85) limit = 'machine (2 cores busy)'
  else if (genMax >= SATURATED && brokerCores < SATURATED) limit = pubCores >= subCores ? 'GENERATOR (publisher)' : 'GENERATOR (subscriber)'
  else if (brokerCores < SATURATED && machineCores >= 1.85) limit = 'machine (2 cores busy)'
  else if (brokerCores < SATURATED && w.rate === undefined) limit = 'flow control'
  if (w.rate !== undefined) limit = 'offered rate'
  return {
    workload: w.name,
    shape: w.shape,
    qos: w.qos,
    payload: w.payloadSize,
    rate: w.rate === undefined ? null : w.rate * w.pubs.length,
    deliveredPerSec: delivered / dt,
    brokerUsPerMsg: delivered > 0 ? brokerCpu / delivered : null,
    writesPerMsg: s1.broker.writes === null || s1.broker.writes === undefined || delivered === 0 ? null : (s1.broker.writes - s0.broker.writes) / delivered,
    brokerCores,
    // --count: the broker's counters per delivered message
    ...(s1.broker.counts ? { perMsg: perMessage(s0.broker.counts, s1.broker.counts, delivered) } : {}),
    // cluster mode: the share of the client messages published on one worker that the other worker took
    // from Redis too (it had subscribers for them): 0 when every subscriber sat on its publisher's worker
    ...(s1.broker.bus ? { crossed: ratioOf(s1.broker.bus.received - s0.broker.bus.received, s1.broker.bus.sent - s0.broker.bus.sent) } : {}),
    // cluster mode: Redis's part of brokerCores
    ...(s1.broker.redisCpu !== null && s1.broker.redisCpu !== undefined ? { redisCores: (s1.broker.redisCpu - s0.broker.redisCpu) / (dt * 1e6) } : {}),
    pubCores,
    subCores,
    otherCores,
    irqCores,
    limit,
    expected: r.expected,
    received: r.received,
    lost: r.lost,
    dup: r.dup,
    unacked: r.unacked,
    latency: w.latency === true ? r.latency : null,
    // consumer groups: messages each member received, and the largest share over the smallest
    ...(r.groups !== undefined && Object.keys(r.groups).length > 0 ? { groups: r.groups, balance: balanceOf(r.groups) } : {}),
    ...(r.raw !== undefined ? { raw: r.raw } : {})
  }
}

function balanceOf (groups) {
  let worst = 1
  for (const counts of Object.values(groups)) {
    const min = Math.min(...counts)
    worst = Math.max(worst, min === 0 ? Infinity : Math.max(...counts) / min)
  }
  return worst
}

const ratioOf = (a, b) => b > 0 ? a / b : null
