// Child processes of the benchmark: brokers under test (Node over IPC, Mosquitto through /proc) and
// load generators, each sampled for its own CPU time.
import { execFileSync, fork, spawn } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { CLK_TCK, freePort, procCpuUs, procRss } from './proc-stat.mjs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

export { freePort, procCpuUs, procRss }

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')

// every child still running when the harness exits (an error, ^C) is killed, Mosquitto included
const live = new Set()
function track (child) {
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}
const dirs = new Set()
function tempDir (prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.add(d)
  return d
}
function removeDir (d) {
  rmSync(d, { recursive: true, force: true })
  dirs.delete(d)
}
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130))

/** A forked Node child answering {cmd} messages with {type: cmd}. */
function ipcChild (script, spec, execArgv = [], { execPath, env } = {}) {
  // the spec travels as the first IPC message: a workload's topic lists do not fit in argv
  const opts = { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...(execPath !== undefined ? { execPath } : {}) }
  if (env !== undefined) opts.env = env
  const child = track(fork(join(BENCH_DIR, script), [], opts))
  child.send({ cmd: 'init', spec })
  const waiting = new Map()
  let failure = null
  const rejectAll = (err) => {
    failure = err
    for (const list of waiting.values()) for (const w of list) w.reject(err)
    waiting.clear()
  }
  child.on('message', (m) => {
    if (m.type === 'error') { rejectAll(new Error(`${script}: ${m.message}`)); return }
    const list = waiting.get(m.type)
    const w = list?.shift()
    if (w !== undefined) w.resolve(m)
  })
  // the reason a child gave before exiting (a generator's "connection closed by the broker") is the one kept
  child.on('exit', (code) => { if (code !== 0 && code !== null) rejectAll(failure ?? new Error(`${script} exited with ${code}`)) })
  const expect = (type, timeoutMs = 120000) => new Promise((resolve, reject) => {
    if (failure !== null) { reject(failure); return }
    const timer = setTimeout(() => reject(new Error(`${script}: no '${type}' within ${timeoutMs} ms`)), timeoutMs)
    const list = waiting.get(type) ?? []
    list.push({ resolve: (m) => { clearTimeout(timer); resolve(m) }, reject: (e) => { clearTimeout(timer); reject(e) } })
    waiting.set(type, list)
  })
  return {
    child,
    pid: child.pid,
    ready: expect('ready'),
    request (cmd, extra = {}, timeoutMs) {
      const p = expect(cmd, timeoutMs)
      if (child.connected) child.send({ cmd, ...extra })
      return p
    },
    async close () {
      if (child.exitCode !== null || !child.connected) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send({ cmd: 'close' })
      const t = setTimeout(() => child.kill('SIGKILL'), 10000)
      await exited
      clearTimeout(t)
    }
  }
}

/** a private redis-server with no persistence, for the store-path benches: its process, port and URL, once it accepts connections */
export async function startRedisServer () {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const server = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    let out = ''
    server.stdout.on('data', (d) => { out += d; if (out.includes('Ready to accept')) resolve() })
    server.once('error', reject)
    server.once('exit', (code) => { reject(new Error(`redis-server exited with ${code} before it was ready: ${out.trim().split('\n').pop() ?? ''}`)) })
  })
  server.stdout.resume()
  return { server, port, url: `redis://127.0.0.1:${port}` }
}

export function spawnGenerator (spec) {
  return ipcChild('gen-child.mjs', spec)
}

/**
 * --trace: bench/stall-probe.mjs, real-time (`chrt -f 50`) where this process may make it so; `ready.realtime`
 * says whether it is
 */
export function spawnStallProbe () {
  let rt = false
  try { execFileSync('chrt', ['-f', '50', 'true'], { stdio: 'ignore' }); rt = true } catch {}
  return rt
    ? ipcChild('stall-probe.mjs', {}, ['-f', '50', process.execPath], { execPath: 'chrt', env: { ...process.env, STALL_PROBE_RT: '1' } })
    : ipcChild('stall-probe.mjs', {})
}

/** the hostile side of the login-storm workload (bench/login-child.mjs) */
export function spawnLoginStorm (spec) {
  return ipcChild('login-child.mjs', spec)
}

/**
 * @param {{ name: string, kind: 'warden'|'aedes'|'mosquitto', persistence?: string, registrations?: number, passwordHash?: string }} b
 * @param {{ profileDir?: string }} opts
 */
export async function startBroker (b, opts = {}) {
  if (b.kind === 'mosquitto') return startMosquitto(b)
  const dataDir = tempDir('warden-bench-')
  const execArgv = ['--expose-gc', ...(b.nodeArgs ?? [])]
  // BENCH_PROF_INTERVAL: µs between samples (V8's default 1000: a 2 s row is 2000 samples)
  const interval = process.env.BENCH_PROF_INTERVAL ?? '1000'
  if (opts.profileDir !== undefined) execArgv.push('--cpu-prof', '--cpu-prof-interval', interval, '--cpu-prof-dir', opts.profileDir)
  // cluster mode: a Redis of its own, whose CPU counts as the broker's (it carries the store and the bus)
  const redis = b.persistence === 'redis' || b.store === 'redis' ? await startRedis() : null
  let h, port
  try {
    h = ipcChild('broker-child.mjs', { ...b, dataDir, registrations: b.registrations ?? 10, redisUrl: redis?.url }, execArgv)
    ;({ port } = await h.ready)
  } catch (err) {
    await redis?.stop()
    throw err
  }
  return {
    ...b,
    port,
    pid: h.pid,
    async sample (gc = false) {
      const s = await h.request('sample', { gc })
      const redisCpu = redis === null ? null : procCpuUs(redis.pid)
      return {
        cpu: s.cpu + (redisCpu ?? 0), redisCpu, t: s.t, rss: s.rss, heap: s.heap, mqQueue: s.mqQueue, writes: s.writes,
        counts: s.counts ?? null, bus: s.bus ?? null
      }
    },
    /** --trace: start recording, or stop and return what was recorded (bench/lib/tail-trace.mjs) */
    async trace (start) {
      return (await h.request('trace', { start })).trace
    },
    async stop () {
      await h.close()
      await redis?.stop()
      removeDir(dataDir)
    }
  }
}

/** A private redis-server (Debian's) on a free loopback port, nothing on disk. */
async function startRedis () {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const child = track(spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] }))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => { out += d; if (out.includes('Ready to accept connections')) resolve() })
    child.once('error', (err) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`)))
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)))
  })
  child.stdout.resume()
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await exited
    }
  }
}

async function startMosquitto (b) {
  const dir = tempDir('mosquitto-bench-')
  // Mosquitto started as root writes its persistence file as the user it drops to
  if (b.persistence === true) chmodSync(dir, 0o777)
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  // Nagle off, no cap on queued messages (so it never drops to keep up), nothing on disk unless
  // b.persistence: then its in-memory state is written to mosquitto.db at autosave (every 1800 s by
  // default) and at exit — a crash loses what came since
  // b.passwords: [username, password] pairs, hashed by mosquitto_passwd into a password file (and then
  // only those accounts may connect), as a deployment with accounts would run it
  const auth = b.passwords === undefined ? ['allow_anonymous true'] : ['allow_anonymous false', `password_file ${writePasswordFile(dir, b.passwords)}`]
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    ...auth,
    'max_queued_messages 0',
    'set_tcp_nodelay true',
    ...(b.persistence === true ? ['persistence true', `persistence_location ${dir}/`] : ['persistence false']),
    'log_dest stderr',
    'log_type error',
    ''
  ].join('\n'))
  const child = track(spawn(b.binary ?? 'mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] }))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 10000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`)
    if (await canConnect(port)) break
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('mosquitto did not start') }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const pid = child.pid
  return {
    ...b,
    port,
    pid,
    async trace () { return null },
    async sample () {
      return { cpu: procCpuUs(pid), t: Number(process.hrtime.bigint()) / 1e3, rss: procRss(pid), heap: null, writes: null }
    },
    async stop () {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
      removeDir(dir)
    }
  }
}

function writePasswordFile (dir, passwords) {
  const file = join(dir, 'passwords')
  writeFileSync(file, passwords.map(([u, p]) => `${u}:${p}`).join('\n') + '\n')
  execFileSync('mosquitto_passwd', ['-U', file])
  // Mosquitto started as root reads it as the user it drops to
  chmodSync(dir, 0o755)
  chmodSync(file, 0o644)
  return file
}

function canConnect (port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

/**
 * Busy CPU time of the whole machine (all cores), µs: `task` is time in processes (user, nice, system),
 * `irq` the kernel's interrupt work — mostly the loopback network stack carrying the benchmark's own traffic.
 */
export function machineBusyUs () {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return { task: (v[0] + v[1] + v[2]) * 1e6 / CLK_TCK, irq: (v[5] + v[6] + v[7]) * 1e6 / CLK_TCK }
}

/**
 * Waits until the machine is nearly idle (other people's work shares these cores), for at most maxWaitMs.
 * Returns how long it waited and the busy cores seen last.
 */
export async function waitForQuiet (maxWaitMs, thresholdCores = 0.25) {
  const t0 = Date.now()
  for (;;) {
    const a = machineBusyUs()
    await new Promise((resolve) => setTimeout(resolve, 300))
    const b = machineBusyUs()
    const busy = (b.task - a.task + b.irq - a.irq) / 300e3
    if (busy <= thresholdCores || Date.now() - t0 >= maxWaitMs) return { waitedMs: Date.now() - t0, busyCores: busy }
  }
}
