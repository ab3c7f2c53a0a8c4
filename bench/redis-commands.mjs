// Redis commands per delivered message on the persistent-session workloads: Warden on `persistence: redis`
// (store and bus on a Redis of its own), one workload at a time, INFO commandstats before and after.
//   npm run build && node bench/redis-commands.mjs [--filter=q1] [--profile]
import { execFileSync } from 'node:child_process'
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
function commandstats (port) {
  const out = execFileSync('redis-cli', ['-p', port, 'info', 'commandstats'], { encoding: 'utf8' })
  const calls = new Map()
  for (const m of out.matchAll(/cmdstat_(\S+):calls=(\d+)/g)) calls.set(m[1], Number(m[2]))
  return calls
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
    const r = await runTraffic(broker, { ...w, warmupMs: 500, durationMs: Number(args.duration ?? 2000) })
    const after = commandstats(port)
    const delivered = r.received ?? r.expected
    const per = [...after].map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / delivered]).filter(([, v]) => v > 0.01).sort((a, b) => b[1] - a[1])
    const total = per.reduce((s, [, v]) => s + v, 0)
    console.log(`${w.name}: ${r.brokerUsPerMsg?.toFixed(1)} µs/msg (redis ${(r.redisCores * 100).toFixed(0)}%), ${r.deliveredPerSec?.toFixed(0)} msg/s, ` +
      `lost ${r.lost}; ${delivered} delivered; Redis commands per delivered message ${total.toFixed(2)}: ` +
      per.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', '))
  }
} finally {
  await broker.stop()
}
