// Redis commands per delivered message on the persistent-session workloads: Warden on `persistence: redis`
// (store and bus on a Redis of its own), one workload at a time, INFO commandstats before and after.
//   npm run build && node bench/redis-commands.mjs [--filter=q1] [--profile] [--monitor]
// --monitor: also counts the commands the broker sends (MONITOR: those not run inside a script), which slows Redis
import { execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { hashPassword } from '@warden/broker'
import { startBroker } from './lib/procs.mjs'
import { runTraffic } from './lib/traffic.mjs'
import { throughput } from './lib/workloads.mjs'
import { BENCH_PASSWORD } from './lib/warden-config.mjs'

const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, '').split('='); return [k, v ?? true] }))
const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const passwordHash = await hashPassword(BENCH_PASSWORD, { N: 1024, r: 8, p: 1 })
const profile = args.profile === true ? { profileDir: join(BENCH_DIR, 'profiles') } : {}
if (profile.profileDir !== undefined) mkdirSync(profile.profileDir, { recursive: true })

/** the private redis-server startBroker started: this process's child */
function redisPort () {
  const ps = execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
  const m = /redis-server \S+:(\d+)/.exec(ps)
  if (m === null) throw new Error('no redis-server child')
  return m[1]
}
/** per command: calls and µs Redis spent in them; and INFO stats counters (bytes, reads, writes) */
function commandstats (port) {
  const out = execFileSync('redis-cli', ['-p', port, 'info', 'all'], { encoding: 'utf8' })
  const calls = new Map()
  const usec = new Map()
  for (const m of out.matchAll(/cmdstat_(\S+):calls=(\d+),usec=(\d+)/g)) { calls.set(m[1], Number(m[2])); usec.set(m[1], Number(m[3])) }
  const stat = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(out)?.[1] ?? NaN)
  const io = {
    in: stat('total_net_input_bytes'), out: stat('total_net_output_bytes'), reads: stat('total_reads_processed'), writes: stat('total_writes_processed')
  }
  return { calls, usec, io }
}

/** MONITOR on `port`: counts of the commands clients sent (top level) and of those scripts ran, by name */
function monitor (port) {
  const child = spawn('redis-cli', ['-p', port, 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] })
  const top = new Map()
  const lua = new Map()
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = /^\S+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line)
    if (m === null) return
    const counts = m[1] === 'lua' ? lua : top
    const name = m[2].toLowerCase()
    counts.set(name, (counts.get(name) ?? 0) + 1)
  })
  return { top, lua, stop: () => child.kill() }
}

const workloads = [1, 2].flatMap((qos) => ['pairs', 'fan4'].map((shape) => throughput(shape, qos, 64, { persistent: true })))
  .filter((w) => typeof args.filter !== 'string' || args.filter.split(',').some((f) => w.name.includes(f)))
const b = { name: 'warden-redis', label: 'Warden (redis)', kind: 'warden', persistence: 'redis', passwordHash, durable: true }
const broker = await startBroker(b, profile)
try {
  await broker.sample(true)
  const port = redisPort()
  for (const w of workloads) {
    const before = commandstats(port)
    const mon = args.monitor === true ? monitor(port) : undefined
    const r = await runTraffic(broker, { ...w, warmupMs: 500, durationMs: Number(args.duration ?? 2000) })
    mon?.stop()
    const after = commandstats(port)
    const delivered = r.received ?? r.expected
    const per = [...after.calls].map(([k, v]) => [k, (v - (before.calls.get(k) ?? 0)) / delivered]).filter(([, v]) => v > 0.001).sort((a, b) => b[1] - a[1])
    const total = per.reduce((s, [, v]) => s + v, 0)
    const usec = [...after.usec].map(([k, v]) => [k, (v - (before.usec.get(k) ?? 0)) / delivered]).filter(([, v]) => v > 0.01).sort((a, b) => b[1] - a[1])
    const io = Object.fromEntries(Object.keys(after.io).map((k) => [k, (after.io[k] - before.io[k]) / delivered]))
    console.log(`${w.name}: ${r.brokerUsPerMsg?.toFixed(1)} µs/msg (redis ${(r.redisCores * 100).toFixed(0)}%), ${r.deliveredPerSec?.toFixed(0)} msg/s, ` +
      `lost ${r.lost}; ${delivered} delivered; Redis commands per delivered message ${total.toFixed(2)}: ` +
      per.map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ') +
      `\n  Redis µs per delivered message in commands ${usec.reduce((s, [, v]) => s + v, 0).toFixed(2)}: ` +
      usec.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') +
      (mon === undefined
        ? ''
        : [['sent by the broker (top level)', mon.top], ['run in scripts', mon.lua]].map(([what, m]) =>
          `\n  MONITOR, ${what}, per delivered message (the warm-up's too): ` +
          [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / delivered).toFixed(3)}`).join(', ')).join('')) +
      `\n  per delivered message: bytes to Redis ${io.in.toFixed(0)}, from Redis ${io.out.toFixed(0)}, ` +
      `reads ${io.reads.toFixed(3)}, writes ${io.writes.toFixed(3)} (Redis's socket reads/writes, all connections)`)
  }
} finally {
  await broker.stop()
}
