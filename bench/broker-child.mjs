// One Node broker under test (Warden or bare aedes), alone in its process so that process.cpuUsage()
// is the broker's own CPU. Driven over IPC by bench/run.mjs.
import net from 'node:net'

const spec = await new Promise((resolve) => process.once('message', (m) => resolve(m.spec)))
let close
// --count-writes: socket writes (system calls) the broker makes, to see how well it batches them
let writes = 0
if (spec.countWrites === true) {
  const proto = net.Socket.prototype
  const generic = proto._writeGeneric
  proto._writeGeneric = function (...args) { writes++; return generic.apply(this, args) }
}
let mq = null // aedes's message bus: its queue length tells when the broker is falling behind

if (spec.kind === 'warden') {
  const { createWardenBroker, parseConfig } = await import('@warden/broker')
  const { createLogger } = await import('@warden/common')
  const { wardenConfig } = await import('./lib/warden-config.mjs')
  const config = parseConfig(wardenConfig(spec), 'bench')
  const broker = await createWardenBroker(config, { logger: createLogger({ name: 'bench-warden', level: 'warn' }) })
  mq = broker.aedes.mq
  process.send({ type: 'ready', port: broker.mqtt.port })
  close = () => broker.close()
} else {
  // bare aedes of the same version: no hooks, default options, in-memory persistence
  const { Aedes } = await import('aedes')
  const { default: aedesPersistence } = await import('aedes-persistence')
  const aedes = await Aedes.createBroker({ persistence: aedesPersistence() })
  mq = aedes.mq
  aedes.on('error', (err) => console.error('aedes error', err))
  const server = net.createServer({ noDelay: true }, aedes.handle)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.send({ type: 'ready', port: server.address().port })
  close = () => new Promise((resolve) => { server.close(); aedes.close(resolve) })
}

process.on('message', async (m) => {
  if (m.cmd === 'sample') {
    if (m.gc === true && typeof globalThis.gc === 'function') { globalThis.gc(); globalThis.gc() }
    const u = process.cpuUsage()
    const mem = process.memoryUsage()
    process.send({ type: 'sample', cpu: u.user + u.system, t: Number(process.hrtime.bigint()) / 1e3, rss: mem.rss, heap: mem.heapUsed, mqQueue: mq?.length ?? null, writes })
  } else if (m.cmd === 'close') {
    await Promise.race([close(), new Promise((resolve) => setTimeout(resolve, 5000))])
    process.send({ type: 'close' })
    process.exit(0) // --cpu-prof writes its profile here
  }
})
