// The login-storm workload (issue 13, item 7): 20 source addresses each sending 40 CONNECT/s (half right,
// half wrong passwords, over a few usernames) while honest devices connect one after another, each from an
// address of its own outside the 20 (127.0.2.k) and logging in for the first time (a username not used
// before, so no remembered password helps); their CONNECT → CONNACK time is the figure (target: p99 under
// 1 s). One address for all of them would measure a gateway logging in 10 devices a second — more than a
// fair share of verification against 20 busy addresses — not a device.
import net from 'node:net'
import { spawnLoginStorm } from './procs.mjs'
import { BENCH_PASSWORD, USERS } from './warden-config.mjs'
import { connectFrame } from './wire.mjs'

export const STORM = { addresses: 20, perSecond: 40, usernames: ['pub-0', 'pub-1', 'pub-2', 'pub-3'] }
const HONEST_TIMEOUT_MS = 15000

function honestLogin (port, username, localAddress) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    const socket = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true })
    let done = false
    const finish = (code) => {
      if (done) return
      done = true
      clearTimeout(t)
      socket.destroy()
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code })
    }
    const t = setTimeout(() => finish(null), HONEST_TIMEOUT_MS)
    socket.on('connect', () => socket.write(connectFrame({ clientId: `honest-${username}`, username, password: BENCH_PASSWORD })))
    socket.on('data', (d) => finish(d[0] === 0x20 ? d[3] : null))
    socket.on('error', () => {})
    socket.on('close', () => finish(null))
  })
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]

/** @param {{ port: number }} broker  @param {{ durationMs: number, everyMs: number }} o */
export async function runLoginStorm (broker, { durationMs = 20000, everyMs = 100 } = {}) {
  const addresses = Array.from({ length: STORM.addresses }, (_, i) => `127.0.0.${101 + i}`)
  const storm = spawnLoginStorm({ port: broker.port, addresses, perSecond: STORM.perSecond, usernames: STORM.usernames, password: BENCH_PASSWORD })
  await storm.ready
  const before = await broker.sample()
  await storm.request('start')
  const samples = []
  const t0 = Date.now()
  let k = 0
  let after, counts
  try {
    // one honest device after another, each a username that has not logged in before
    while (Date.now() - t0 < durationMs && k < USERS.subs) {
      const next = Date.now() + everyMs
      samples.push(await honestLogin(broker.port, `sub-${k}`, `127.0.2.${k + 1}`))
      k++
      const wait = next - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    after = await broker.sample()
  } finally {
    ;({ counts } = await storm.request('close'))
    await storm.close()
  }
  if (process.env.BENCH_DEBUG) console.log(samples.map((s, i) => `${i}:${Math.round(s.ms)}`).join(' '))
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b)
  return {
    workload: `login storm ${STORM.addresses}×${STORM.perSecond}/s`,
    honest: samples.length,
    honestAccepted: samples.filter((s) => s.code === 0).length,
    p50Ms: pct(ms, 0.5),
    p99Ms: pct(ms, 0.99),
    maxMs: ms.at(-1),
    firstMs: samples[0]?.ms ?? null,
    storm: counts,
    brokerCores: (after.cpu - before.cpu) / (after.t - before.t)
  }
}
