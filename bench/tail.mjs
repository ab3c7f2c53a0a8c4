// Reads the dumps of `node bench/run.mjs --sections=latency --trace=<dir>` and says where each run's slow
// messages went: `node bench/tail.mjs <dir or files…> [--episodes]`.
// A slow message is one at or above the run's p99. Slow messages sent within 5 ms of each other form an
// episode (one stall delays every message sent during it). For each episode: what overlapped it — the
// broker's and the subscriber's GC pauses, the broker's timer callbacks, other load on the machine — and, for a
// Node broker, where the worst message of it waited: publisher → broker read, read → write in the broker,
// write → subscriber read.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const argv = process.argv.slice(2)
const showEpisodes = argv.includes('--episodes')
// a dump's name ends in the time it was written: in run order
const writtenAt = (f) => Number(f.split('-').pop().slice(0, -5))
const files = argv.filter((a) => !a.startsWith('--')).flatMap((p) => statSync(p).isDirectory()
  ? readdirSync(p).filter((f) => f.endsWith('.json')).sort((a, b) => writtenAt(a) - writtenAt(b)).map((f) => join(p, f))
  : [p])

const f2 = (x) => (x / 1000).toFixed(2) // µs → ms
const pct = (a, q) => a.length === 0 ? NaN : a[Math.min(a.length - 1, Math.floor(q * a.length))]
const overlaps = (a0, a1, b0, b1) => a0 <= b1 && b0 <= a1
const GAP_US = 5000

for (const file of files) {
  const d = JSON.parse(readFileSync(file, 'utf8'))
  const { sentAt, latency } = d.samples
  const n = latency.length
  const sorted = Float64Array.from(latency).sort()
  const p99 = pct(sorted, 0.99)
  const t0 = sentAt[0]
  const ms = (t) => ((t - t0) / 1000).toFixed(0)

  // the broker's read and write of each message, by send time
  const rx = new Map((d.broker?.rx ?? []).map(([s, t]) => [s, t]))
  const tx = new Map((d.broker?.tx ?? []).map(([s, t]) => [s, t]))
  const split = (i) => {
    const s = sentAt[i]
    const r = rx.get(s)
    const w = tx.get(s)
    if (r === undefined || w === undefined) return null
    return { in: r - s, broker: w - r, out: s + latency[i] - w }
  }

  const slow = []
  for (let i = 0; i < n; i++) if (latency[i] >= p99) slow.push(i)
  slow.sort((a, b) => sentAt[a] - sentAt[b])
  const episodes = []
  for (const i of slow) {
    const e = episodes[episodes.length - 1]
    if (e !== undefined && sentAt[i] - e.lastSent <= GAP_US) { e.idx.push(i); e.lastSent = sentAt[i]; e.end = Math.max(e.end, sentAt[i] + latency[i]) } else {
      episodes.push({ idx: [i], start: sentAt[i], lastSent: sentAt[i], end: sentAt[i] + latency[i] })
    }
  }
  const gcB = d.broker?.gc ?? []
  const gcS = d.sub?.gc ?? []
  const timers = d.broker?.timers ?? []
  const machine = d.machine ?? []
  // the stall probe's late wake-ups: [went to sleep, µs late]; it should have woken 1 ms after going to sleep
  const stalls = d.stalls?.late ?? []
  const cause = { 'machine stall': 0, 'broker GC': 0, 'broker timer': 0, 'subscriber GC': 0, 'other load': 0, none: 0 }
  const lines = []
  for (const e of episodes) {
    const worst = e.idx.reduce((a, b) => (latency[b] > latency[a] ? b : a))
    const g = gcB.filter(([t, dur]) => overlaps(t, t + dur, e.start, e.end))
    const gs = gcS.filter(([t, dur]) => overlaps(t, t + dur, e.start, e.end))
    const tm = timers.filter(([t, dur]) => overlaps(t, t + dur, e.start, e.end) && dur >= 100)
    const mc = machine.filter(([t]) => overlaps(t - 50000, t, e.start, e.end))
    const other = mc.length === 0 ? null : Math.max(...mc.map((r) => r[1]))
    const steal = mc.length === 0 ? null : Math.max(...mc.map((r) => r[3]))
    const st = stalls.filter(([t, late]) => overlaps(t + 1000, t + 1000 + late, e.start, e.end) && late >= 1000)
    const parts = split(worst)
    const what = []
    if (g.length > 0) what.push(`broker GC ${g.map(([, dur, k]) => `${k} ${f2(dur)}`).join(', ')}`)
    if (tm.length > 0) what.push(`broker timer ${tm.map(([, dur, l]) => `${f2(dur)} ${l.replace(/^.*\/(apps|node_modules)\//, '$1/')}`).join(', ')}`)
    if (gs.length > 0) what.push(`sub GC ${gs.map(([, dur, k]) => `${k} ${f2(dur)}`).join(', ')}`)
    const stalled = st.length === 0 ? 0 : Math.max(...st.map(([, late]) => late))
    if (stalled > 0) what.push(`probe woke ${f2(stalled)} ms late`)
    // a stall of the whole machine (the probe, real-time, held back too) as long as half the message's wait
    // explains it whatever else overlapped
    const label = stalled >= latency[worst] / 2
      ? 'machine stall'
      : g.length > 0 ? 'broker GC' : tm.length > 0 ? 'broker timer' : gs.length > 0 ? 'subscriber GC' : 'none'
    cause[label] += e.idx.length
    lines.push(`  at ${ms(e.start).padStart(5)} ms: ${String(e.idx.length).padStart(3)} slow, worst ${f2(latency[worst])} ms` +
      (parts !== null ? ` (pub→broker ${f2(parts.in)}, in broker ${f2(parts.broker)}, broker→sub ${f2(parts.out)})` : '') +
      `; machine busy ≤ ${other === null ? '?' : other.toFixed(2)} cores, steal ≤ ${steal === null ? '?' : steal.toFixed(2)}` +
      (what.length > 0 ? `; ${what.join('; ')}` : ''))
  }

  // where the slow messages' time went (Node brokers), summed
  const sum = { in: 0, broker: 0, out: 0, n: 0 }
  for (const i of slow) { const p = split(i); if (p !== null) { sum.in += p.in; sum.broker += p.broker; sum.out += p.out; sum.n++ } }
  const all = { in: [], broker: [], out: [] }
  for (let i = 0; i < n; i++) { const p = split(i); if (p !== null) { all.in.push(p.in); all.broker.push(p.broker); all.out.push(p.out) } }
  for (const k of Object.keys(all)) all[k].sort((a, b) => a - b)

  const s = d.sched
  const waitPerMsg = (k, which) => s?.from?.[k]?.[which] && s?.to?.[k]?.[which] ? ((s.to[k][which].waitUs - s.from[k][which].waitUs) / n).toFixed(1) : '–'
  const gcSum = (list) => {
    const by = {}
    for (const [, dur, k] of list) { const x = (by[k] ??= { n: 0, total: 0, max: 0 }); x.n++; x.total += dur; x.max = Math.max(x.max, dur) }
    return Object.entries(by).map(([k, x]) => `${k} ${x.n}× (max ${f2(x.max)}, total ${f2(x.total)} ms)`).join(', ') || 'none'
  }
  const tSum = {}
  for (const [, dur, l] of timers) { const x = (tSum[l] ??= { n: 0, max: 0 }); x.n++; x.max = Math.max(x.max, dur) }
  const steal = machine.length === 0 ? null : machine.reduce((a, r) => a + r[3], 0) / machine.length
  const task = machine.length === 0 ? null : machine.reduce((a, r) => a + r[1], 0) / machine.length

  console.log(`${file.split('/').pop()}: ${n} messages, p50 ${f2(pct(sorted, 0.5))} p99 ${f2(p99)} p99.9 ${f2(pct(sorted, 0.999))} ` +
    `max ${f2(sorted[n - 1])} ms; ${d.brokerUsPerMsg?.toFixed(0)} µs/msg; ${episodes.length} episodes`)
  console.log(`  slow by what overlapped them: ${Object.entries(cause).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  if (sum.n > 0) {
    const share = (x) => `${(100 * x / (sum.in + sum.broker + sum.out)).toFixed(0)} %`
    const p50p99 = (a) => `${f2(pct(a, 0.5))}/${f2(pct(a, 0.99))}`
    console.log(`  slow messages' time: pub→broker ${share(sum.in)}, in broker ${share(sum.broker)}, broker→sub ${share(sum.out)}; ` +
      `all messages p50/p99 (ms): pub→broker ${p50p99(all.in)}, in broker ${p50p99(all.broker)}, broker→sub ${p50p99(all.out)}`)
  }
  console.log(`  waiting for a core, µs per message (main thread / all threads): broker ${waitPerMsg('broker', 'main')}/${waitPerMsg('broker', 'all')}, ` +
    `pub ${waitPerMsg('pub', 'main')}, sub ${waitPerMsg('sub', 'main')}; machine: processes ${task?.toFixed(2)} cores, steal ${steal?.toFixed(3)} cores`)
  if (d.broker) {
    console.log(`  broker GC: ${gcSum(gcB)}; loop delay p99 ${d.broker.loop.p99.toFixed(2)} max ${d.broker.loop.max.toFixed(2)} ms`)
    const short = (l) => l.replace(/^.*\/(apps|node_modules)\//, '$1/')
    console.log(`  broker timers: ${Object.entries(tSum).map(([l, x]) => `${short(l)} ${x.n}× max ${f2(x.max)}`).join('; ') || 'none'}`)
  }
  console.log(`  subscriber GC: ${gcSum(gcS)}`)
  if (d.stalls) {
    const over = (ms) => stalls.filter(([, l]) => l >= ms * 1000).length
    console.log(`  stall probe (${d.stalls.realtime ? 'real-time' : 'ordinary priority'}): woke ≥ 2 ms late ${over(2)}×, ≥ 10 ms ${over(10)}×, ` +
      `max ${f2(Math.max(0, ...stalls.map(([, l]) => l)))} ms`)
  }
  if (showEpisodes) for (const l of lines) console.log(l)
}
