// One broker under test, alone in its process(es) so that their CPU accounting is the broker's own:
// Warden or bare aedes in this process, or Warden in cluster mode — this process the node:cluster primary
// (as pm2's cluster mode is), N worker processes sharing one listening port, on the harness's Redis.
// Driven over IPC by bench/run.mjs.
import cluster from 'node:cluster'
import net from 'node:net'
import { procCpuUs, procRss } from './lib/proc-stat.mjs'
import { installTailTrace } from './lib/tail-trace.mjs'

// a cluster worker finds its spec in its environment (a message sent at fork can arrive before it listens)
const spec = cluster.isWorker
  ? JSON.parse(process.env.WARDEN_BENCH_SPEC)
  : await new Promise((resolve) => process.once('message', (m) => resolve(m.spec)))
let close
// --trace: GC pauses, timer callbacks and each message's read and write times; installed before the broker
// is imported, so that its timers are wrapped as they are created
const trace = spec.trace === true && spec.workers === undefined ? installTailTrace({ sockets: true, timers: true }) : null
// --count-writes: socket writes (system calls) the broker makes, to see how well it batches them
let writes = 0
if (spec.countWrites === true) {
  const proto = net.Socket.prototype
  const generic = proto._writeGeneric
  proto._writeGeneric = function (...args) { writes++; return generic.apply(this, args) }
}
// --count: what the broker does per delivered message, whatever the machine's load: event-loop iterations
// (libuv's own count), socket writes (one system call each: `write` for one chunk, `writev` for several),
// the level store's batches and operations, and with --count=promises every promise created (async_hooks:
// slows the broker, so its CPU figures are not comparable then)
const counts = spec.count === undefined || spec.count === false ? null : { socketWrites: 0, promises: 0 }
if (counts !== null) {
  const proto = net.Socket.prototype
  for (const name of ['_writeGeneric', '_writev']) {
    const own = proto[name]
    proto[name] = function (...args) { counts.socketWrites++; return own.apply(this, args) }
  }
  if (spec.count === 'promises') {
    const { createHook } = await import('node:async_hooks')
    createHook({ init (id, type) { if (type === 'PROMISE') counts.promises++ } }).enable()
  }
}
let wardenBroker = null
let mq = null // aedes's message bus: its queue length tells when the broker is falling behind
let workers = [] // cluster mode: the worker processes, sampled through /proc

async function startWarden (extra = {}) {
  const { createWardenBroker, parseConfig } = await import('@warden/broker')
  const { createLogger } = await import('@warden/common')
  const { wardenConfig } = await import('./lib/warden-config.mjs')
  const config = parseConfig({ ...wardenConfig(spec), ...extra }, 'bench')
  const broker = await createWardenBroker(config, { logger: createLogger({ name: 'bench-warden', level: 'warn' }) })
  mq = broker.aedes.mq
  wardenBroker = broker
  return broker
}

if (spec.kind === 'warden' && spec.workers !== undefined && cluster.isPrimary) {
  const { freePort } = await import('./lib/proc-stat.mjs')
  const port = await freePort()
  // workers inherit this process's flags (--cpu-prof: one profile per worker)
  cluster.setupPrimary({ execArgv: process.execArgv })
  workers = Array.from({ length: spec.workers }, (_, i) => cluster.fork({ WARDEN_BENCH_SPEC: JSON.stringify({ ...spec, port, worker: i }) }))
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', (m) => (m.type === 'ready' ? resolve() : reject(new Error(m.message))))
    w.once('exit', (code) => reject(new Error(`cluster worker exited with ${code}`)))
  })))
  process.send({ type: 'ready', port })
  close = () => Promise.all(workers.map((w) => new Promise((resolve) => {
    if (w.process.exitCode !== null) { resolve(); return }
    w.once('exit', resolve)
    w.send({ cmd: 'close' })
  })))
} else if (spec.kind === 'warden' && spec.workers !== undefined) {
  // a cluster worker: the shared port, a broker id of its own, the shared store and bus on Redis
  const broker = await startWarden({ mqtt: { port: spec.port, host: '127.0.0.1' }, brokerId: `bench-${spec.worker}` })
  process.send({ type: 'ready' })
  process.on('message', async (m) => {
    // the bus's counters: how many of this worker's messages the other worker took
    if (m.cmd === 'bus') { process.send({ type: 'bus', sent: broker.bus?.sent ?? 0, received: broker.bus?.received ?? 0 }); return }
    if (m.cmd !== 'close') return
    await Promise.race([broker.close(), new Promise((resolve) => setTimeout(resolve, 5000))])
    process.exit(0)
  })
} else if (spec.kind === 'warden') {
  const broker = await startWarden()
  process.send({ type: 'ready', port: broker.mqtt.port })
  close = () => broker.close()
} else {
  // bare aedes 1.2.0, the floor Warden is measured against (Warden itself runs on aedes 2.0.0-beta.1: the
  // root's devDependency `aedes-1.2` is an alias of aedes@1.2.0): no hooks, default options, in-memory
  // persistence, or (spec.store) the level or redis store Warden's stores are compared with
  // (spec.aedes2: the aedes Warden runs on, bare, for the memory of a connection)
  const { Aedes } = await import(spec.aedes2 === true ? 'aedes' : 'aedes-1.2')
  const aedes = await Aedes.createBroker({ persistence: await bareStore(spec) })
  mq = aedes.mq
  aedes.on('error', (err) => console.error('aedes error', err))
  const server = net.createServer({ noDelay: true }, aedes.handle)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.send({ type: 'ready', port: server.address().port })
  close = () => new Promise((resolve) => { server.close(); aedes.close(resolve) })
}

if (close !== undefined) {
  process.on('message', async (m) => {
    if (m.cmd === 'sample') {
      if (m.gc === true && typeof globalThis.gc === 'function') { globalThis.gc(); globalThis.gc() }
      const u = process.cpuUsage()
      const mem = process.memoryUsage()
      const live = workers.filter((w) => w.process.exitCode === null)
      const bus = await busOf(live)
      process.send({
        type: 'sample',
        cpu: u.user + u.system + live.reduce((s, w) => s + ofLive(procCpuUs, w), 0),
        t: Number(process.hrtime.bigint()) / 1e3,
        rss: mem.rss + live.reduce((s, w) => s + ofLive(procRss, w), 0),
        heap: workers.length > 0 ? null : mem.heapUsed,
        mqQueue: mq?.length ?? null,
        writes,
        counts: counts === null ? null : countsNow(),
        bus
      })
    } else if (m.cmd === 'trace') {
      if (m.start === true) trace?.start()
      process.send({ type: 'trace', trace: m.start === true ? null : trace?.stop() ?? null })
    } else if (m.cmd === 'close') {
      await Promise.race([close(), new Promise((resolve) => setTimeout(resolve, 5000))])
      process.send({ type: 'close' })
      process.exit(0) // --cpu-prof writes its profile here
    }
  })
}

function countsNow () {
  const loop = performance.nodeTiming.uvMetricsInfo
  const commits = wardenBroker?.commits
  return { ...counts, loops: loop.loopCount, events: loop.events, batches: commits?.batches ?? null, ops: commits?.ops ?? null }
}

/** cluster mode: the workers' bus counters summed, or null for one process */
async function busOf (live) {
  if (live.length === 0) return null
  const answers = await Promise.all(live.map((w) => new Promise((resolve) => {
    const on = (m) => { if (m.type === 'bus') { w.off('message', on); resolve(m) } }
    w.on('message', on)
    w.send({ cmd: 'bus' })
  })))
  return answers.reduce((a, b) => ({ sent: a.sent + b.sent, received: a.received + b.received }), { sent: 0, received: 0 })
}

/** a worker that has just died has no /proc entry left to read */
function ofLive (read, w) {
  try { return read(w.process.pid) } catch { return 0 }
}

/** the store of a bare aedes broker: aedes-persistence (memory), aedes-persistence-level or -redis */
async function bareStore ({ store, dataDir, redisUrl }) {
  if (store === 'level') {
    const { Level } = await import('level')
    const { default: aedesPersistenceLevel } = await import('aedes-persistence-level')
    const db = new Level(`${dataDir}/aedes-level`)
    await db.open()
    return aedesPersistenceLevel(db)
  }
  if (store === 'redis') {
    // the broker's own copies (apps/broker/node_modules), as Warden runs them
    const { createRequire } = await import('node:module')
    const fromBroker = createRequire(new URL('../apps/broker/package.json', import.meta.url))
    const { default: aedesPersistenceRedis } = await import(fromBroker.resolve('aedes-persistence-redis'))
    const { Redis } = await import(fromBroker.resolve('ioredis'))
    return aedesPersistenceRedis({ conn: new Redis(redisUrl, { enableAutoPipelining: true }) })
  }
  const { default: aedesPersistence } = await import('aedes-persistence')
  return aedesPersistence()
}
