// A cluster mid-upgrade: one worker of the last Warden on aedes 1.2 (f689a38) and one of this checkout's build,
// on one private Redis, with real MQTT clients. Checks what a rolling restart (`npx pm2 reload broker`) relies on:
// neither worker takes the other for dead (no will of a live worker's client published), messages, sessions,
// takeovers, registry changes and a consumer group cross between them, and a worker SIGKILLed has its clients'
// wills published by the other. Needs a built checkout of f689a38 (README.md here) and `npm run build` here:
//   node scripts/upgrade-fixtures/mixed-cluster.mjs /work/wt-old
// Prints one line per check and exits 1 if any failed. Every process it starts is stopped by PID. A third
// argument gives the new worker another heartbeat interval (ms): 60000 shows the will check failing, the old
// worker taking the silent new one for dead and publishing its client's will.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { api, configFor, connectClient, end, openOldBuild, publish, startBrokerOf, startRedis, subscribe } from './old-build.mjs'

const ROOT = resolve(import.meta.dirname, '../..')
const HEARTBEAT_MS = 200
const old = await openOldBuild(process.argv[2])
const newHeartbeatMs = Number(process.argv[3] ?? HEARTBEAT_MS)
const work = await mkdtemp(join(tmpdir(), 'warden-mixed-cluster-'))
const started = []
const clients = []
let failed = 0
const check = (name, ok, detail = '') => {
  if (!ok) failed++
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${name}${detail !== '' ? `: ${detail}` : ''}\n`)
}
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** resolves true once `pred()` holds, false after `ms` */
async function within (ms, pred) {
  const end = Date.now() + ms
  while (!pred()) { if (Date.now() > end) return false; await wait(20) }
  return true
}

async function worker (checkout, name, config) {
  const b = startBrokerOf(checkout, join(work, config))
  started.push(b)
  const listening = await b.logLine('broker listening')
  const { http } = await b.logLine('control plane listening')
  const port = Number(String(listening.mqtt).split(':').pop())
  return { ...b, name, url: `mqtt://127.0.0.1:${port}`, http, brokerId: listening.brokerId }
}
async function client (w, username, opts = {}) {
  const c = await connectClient(w.url, username, opts)
  clients.push(c)
  c.got = []
  c.on('message', (topic, payload) => c.got.push(`${topic} ${payload}`))
  return c
}
const redis = await startRedis(join(work))
try {
  for (const [file, heartbeatIntervalMs] of [['old.json', HEARTBEAT_MS], ['new.json', newHeartbeatMs]]) {
    await writeFile(join(work, file), JSON.stringify(await configFor(old.hashPassword, join(work, 'data'), redis.url, { limits: { heartbeatIntervalMs } })))
  }
  const oldW = await worker(old.path, 'old (aedes 1.2)', 'old.json')
  const newW = await worker(ROOT, 'new (aedes 2.0.0-beta.1)', 'new.json')

  // heartbeats of both, seen from both: the same topic and payload (the broker id as UTF-8) in 1.2 and 2.0.0-beta.1
  for (const w of [oldW, newW]) {
    const obs = await client(w, 'observer')
    await subscribe(obs, '$SYS/+/heartbeat', 0)
    const both = await within(5 * HEARTBEAT_MS, () => [oldW, newW].every((x) => obs.got.includes(`$SYS/${x.brokerId}/heartbeat ${x.brokerId}`)))
    check(`the ${w.name} worker's clients see both workers' heartbeats, each "$SYS/<id>/heartbeat <id>"`, both,
      both ? '' : obs.got.filter((l) => l.includes('heartbeat')).slice(0, 4).join(' | '))
  }

  // a client with a will on each worker; observers on both
  const watchers = [await client(oldW, 'observer'), await client(newW, 'observer')]
  for (const o of watchers) await subscribe(o, 'private/#', 1)
  await client(oldW, 'sensor-1', { clientId: 'mix-will-old', will: { topic: 'private/will-old', payload: 'will-old', qos: 1 } })
  await client(newW, 'sensor-1', { clientId: 'mix-will-new', will: { topic: 'private/will-new', payload: 'will-new', qos: 1 } })
  // each worker looks for dead brokers' wills every 4 heartbeats and takes a broker for dead after 3 silent ones
  await wait(16 * HEARTBEAT_MS)
  const wills = watchers.flatMap((o) => o.got.filter((l) => l.startsWith('private/will')))
  check(`no will of a live worker's client published after ${16 * HEARTBEAT_MS} ms (4 will sweeps of each)`, wills.length === 0, wills.join(', '))

  // live messages both ways
  for (const [from, to] of [[oldW, newW], [newW, oldW]]) {
    const sub = await client(to, 'dashboard')
    await subscribe(sub, 'sensors/sensor-1/live', 1)
    const pub = await client(from, 'sensor-1')
    await publish(pub, 'sensors/sensor-1/live', `from-${from.name}`, { qos: 1 })
    check(`a QoS 1 message from the ${from.name} worker reaches a subscriber on the ${to.name} one`,
      await within(3000, () => sub.got.includes(`sensors/sensor-1/live from-${from.name}`)))
    await end(sub)
    await end(pub)
  }

  // a persistent session made on one worker, its messages queued by the other, resumed there (3.1.1 and MQTT 5)
  for (const [made, queuedBy, protocolVersion] of [[oldW, newW, 4], [newW, oldW, 4], [oldW, newW, 5]]) {
    const id = `mix-roam-${made === oldW ? 'o' : 'n'}-${protocolVersion}`
    const first = await client(made, 'dashboard', { clientId: id, clean: false })
    await subscribe(first, 'sensors/sensor-1/roam', 1)
    await end(first)
    const pub = await client(queuedBy, 'sensor-1')
    for (let i = 1; i <= 3; i++) await publish(pub, 'sensors/sensor-1/roam', `${id}-${i}`, { qos: 1 })
    await end(pub)
    const back = await client(queuedBy, 'dashboard', { clientId: id, clean: false, protocolVersion })
    const all = await within(3000, () => back.got.filter((l) => l.startsWith('sensors/sensor-1/roam')).length >= 3)
    const got = back.got.filter((l) => l.startsWith('sensors/sensor-1/roam'))
    check(`a session made on the ${made.name} worker, queued on and resumed on the ${queuedBy.name} one (MQTT ${protocolVersion === 5 ? '5' : '3.1.1'})`,
      back.connack.sessionPresent && all && got.length === 3 && got.every((l, i) => l.endsWith(`${id}-${i + 1}`)),
      `sessionPresent ${back.connack.sessionPresent}; ${got.join(', ')}`)
    await end(back)
  }

  // a takeover across workers, both ways: the first connection is closed
  for (const [holder, taker] of [[oldW, newW], [newW, oldW]]) {
    const id = `mix-take-${holder === oldW ? 'o' : 'n'}`
    const first = await client(holder, 'dashboard', { clientId: id })
    const closed = new Promise((resolve) => first.once('close', resolve))
    const t0 = Date.now()
    await client(taker, 'dashboard', { clientId: id })
    const gone = await Promise.race([closed.then(() => true), wait(5000).then(() => false)])
    check(`a client id connected on the ${holder.name} worker is taken over from the ${taker.name} one`, gone, `${Date.now() - t0} ms`)
  }

  // registry changes made through either worker's API reach the other
  for (const [via, other] of [[newW, oldW], [oldW, newW]]) {
    const username = `mix-${via === newW ? 'n' : 'o'}`
    await api(via.http, 'POST', '/api/v1/users', { username, password: 'mixed-pass-1', roles: ['producer'] })
    let ok = false
    for (let i = 0; i < 20 && !ok; i++) {
      try { await end(await connectClient(other.url, username, { password: 'mixed-pass-1' })); ok = true } catch { await wait(100) }
    }
    check(`an account added through the ${via.name} worker's API logs in on the ${other.name} one`, ok)
  }

  // a consumer group with a member on each worker: every message to exactly one of them
  const members = [await client(oldW, 'dashboard', { clientId: 'mix-g-o' }), await client(newW, 'dashboard', { clientId: 'mix-g-n' })]
  for (const m of members) await subscribe(m, '$share/mix/sensors/sensor-1/g', 1)
  for (const w of [oldW, newW]) {
    const pub = await client(w, 'sensor-1')
    for (let i = 1; i <= 10; i++) await publish(pub, 'sensors/sensor-1/g', `${w === oldW ? 'o' : 'n'}-${i}`, { qos: 1 })
    await end(pub)
  }
  const all = () => members.flatMap((m) => m.got.filter((l) => l.startsWith('sensors/sensor-1/g ')))
  await within(5000, () => all().length >= 20)
  const got = all()
  check('a consumer group with a member on each worker gets each of 20 messages (10 published on each) once',
    got.length === 20 && new Set(got).size === 20, `${members[0].got.length} on old, ${members[1].got.length} on new`)

  // the old worker SIGKILLed: the new one publishes its client's will, once; the new worker's client keeps its own
  started[0].child.kill('SIGKILL')
  await started[0].exited
  const newWatcher = watchers[1]
  const will = await within(10 * HEARTBEAT_MS * 4, () => newWatcher.got.includes('private/will-old will-old'))
  await wait(8 * HEARTBEAT_MS)
  const count = newWatcher.got.filter((l) => l === 'private/will-old will-old').length
  check('the old worker SIGKILLed: the new one publishes its client\'s will once', will && count === 1, `${count}`)
  check('the new worker\'s own client\'s will is not published', !newWatcher.got.some((l) => l.startsWith('private/will-new')))
} finally {
  for (const c of clients) c.end(true)
  for (const b of started) { if (b.child.exitCode === null && b.child.signalCode === null) { b.child.kill('SIGTERM'); await b.exited } }
  if (redis.child.exitCode === null) { redis.child.kill('SIGTERM'); await new Promise((resolve) => redis.child.once('exit', resolve)) }
  await rm(work, { recursive: true, force: true })
}
process.stdout.write(failed === 0 ? 'all checks passed\n' : `${failed} check(s) failed\n`)
process.exit(failed === 0 ? 0 : 1)
