import { startBroker } from './lib/procs.mjs'
import { runTraffic } from './lib/traffic.mjs'
import { throughput } from './lib/workloads.mjs'
import { hashPassword } from '@warden/broker'
const passwordHash = await hashPassword('bench-secret', { N: 1024, r: 8, p: 1 })
const [,, which, shape, q, size, dur] = process.argv
const b = which === 'aedes' ? { name: 'aedes', kind: 'aedes' } : which === 'mosquitto' ? { name: 'mosquitto', kind: 'mosquitto' } : { name: which, kind: 'warden', persistence: which === 'warden-level' ? 'level' : 'memory', passwordHash }
const br = await startBroker(b, process.env.PROF ? { profileDir: '/work/main/bench/profiles' } : {})
for (let i = 0; i < (Number(process.env.REPS) || 1); i++) {
  const r = await runTraffic(br, { ...throughput(shape, Number(q), Number(size)), warmupMs: 1000, durationMs: Number(dur ?? 3000) })
  console.log(which, r.workload, Math.round(r.deliveredPerSec), r.brokerUsPerMsg.toFixed(2), 'b', r.brokerCores.toFixed(2), 'p', r.pubCores.toFixed(2), 's', r.subCores.toFixed(2), 'o', r.otherCores.toFixed(2), 'lost', r.lost, r.limit)
}
await br.stop()
