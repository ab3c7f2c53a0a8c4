// The store path of a persistent subscriber's QoS 1 or 2 message on Redis, alone: the calls aedes makes on
// the store per message (queue, packet id, acknowledgement; QoS 2: the incoming packet and the PUBREL too),
// through aedes-persistence-redis 12 and through Warden's Redis queue store, on a private redis-server
// emptied before each run, in this process. CPU is this process's own plus redis-server's.
//   npm run build && node bench/store-path-redis.mjs [--messages=20000] [--window=64] [--rounds=3] [--subs=1]
import { createRequire } from 'node:module'
import { loadavg } from 'node:os'
import { Redis } from 'ioredis'
import { RedisQueueStore } from '../apps/broker/dist/store/redis-queues.js'
import { procCpuUs, startRedisServer } from './lib/procs.mjs'

const require = createRequire(new URL('../apps/broker/package.json', import.meta.url))
const AsyncRedisPersistence = require('aedes-persistence-redis/asyncPersistence.js')
const mqemitter = require('mqemitter')

const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, '').split('='); return [k, v ?? true] }))
const MESSAGES = Number(args.messages ?? 20000)
const WINDOW = Number(args.window ?? 64)
const ROUNDS = Number(args.rounds ?? 3)
const SUBS = Number(args.subs ?? 1)

const { server, url } = await startRedisServer()

const stores = {
  'aedes-persistence-redis': (conn) => new AsyncRedisPersistence({ conn }),
  'Warden Redis store': (conn) => new RedisQueueStore({ conn }),
  // a QoS 2 message given its packet id as it is queued, as the broker gives one to a subscriber connected to it
  // (aedes/queued-ids.ts): the same id the path then sends it under (a build without it: as the row above)
  'Warden, ids at queue': (conn) => {
    const store = new RedisQueueStore({ conn })
    store.giveIdsAtQueue?.((clientId, packet) => ({ id: idOf(packet.brokerCounter - 1), client: clients[clientId], drop () {} }))
    return store
  }
}
const idOf = (n) => (n % 65535) + 1

async function oneMessage (store, qos, n) {
  const subs = Array.from({ length: SUBS }, (_, k) => ({ clientId: `sub-${k}`, topic: 'bench/p/data', qos }))
  const publisher = { id: 'pub-1' }
  const messageId = idOf(n)
  const packet = { cmd: 'publish', topic: 'bench/p/data', payload: Buffer.alloc(64, 1), qos, retain: false, dup: false, brokerId: 'b', brokerCounter: n + 1 }
  if (qos === 2) {
    await store.incomingGetPacket(publisher, { messageId }).catch(() => {})
    await store.incomingStorePacket(publisher, { ...packet, messageId })
  }
  await store.outgoingEnqueueCombi(subs, packet)
  await Promise.all(subs.map(async (sub) => {
    const client = clients[sub.clientId]
    await store.outgoingUpdate(client, { ...packet, messageId })
    if (qos === 2) await store.outgoingUpdate(client, { cmd: 'pubrel', messageId })
    await store.outgoingClearMessageId(client, { messageId })
  }))
  if (qos === 2) {
    await store.incomingGetPacket(publisher, { messageId, cmd: 'pubrel' })
    await store.incomingDelPacket(publisher, { messageId })
  }
}
const clients = Object.fromEntries(Array.from({ length: SUBS }, (_, k) => [`sub-${k}`, { id: `sub-${k}` }]))

async function run (name, qos) {
  const conn = new Redis(url, { enableAutoPipelining: true })
  await conn.flushall()
  const store = stores[name](conn)
  const mq = mqemitter()
  await store.setup({ id: 'b', counter: 0, mq, publish: mq.emit.bind(mq), subscribe: mq.on.bind(mq), unsubscribe: mq.removeListener.bind(mq) })
  let next = 0
  const c0 = process.cpuUsage()
  const r0 = procCpuUs(server.pid)
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (next < MESSAGES) await oneMessage(store, qos, next++)
  }))
  await conn.ping()
  const cpu = process.cpuUsage(c0)
  const redisUs = procCpuUs(server.pid) - r0
  const wall = Number(process.hrtime.bigint() - t0) / 1e3
  await store.destroy()
  return { nodeUs: (cpu.user + cpu.system) / MESSAGES, redisUs: redisUs / MESSAGES, wallUs: wall / MESSAGES }
}

try {
  const load = loadavg().map((x) => x.toFixed(2)).join(' ')
  console.log(`Redis store path, ${MESSAGES} messages of 64 B to ${SUBS} subscriber(s), ${WINDOW} in flight, ${ROUNDS} alternating rounds; load ${load}`)
  for (const qos of [1, 2]) {
    const runs = Object.fromEntries(Object.keys(stores).map((k) => [k, []]))
    for (let r = 0; r < ROUNDS; r++) for (const name of Object.keys(stores)) runs[name].push(await run(name, qos))
    for (const [name, rs] of Object.entries(runs)) {
      const f = (k) => rs.map((x) => x[k].toFixed(1)).join(' / ')
      console.log(`QoS ${qos}  ${name.padEnd(24)} µs per message: node ${f('nodeUs')}, redis ${f('redisUs')}  (wall ${f('wallUs')})`)
    }
  }
} finally {
  server.kill('SIGTERM')
}
