// The cluster bus's cost per message on the broker's side, alone: a PUBLISH per message through ioredis
// (auto-pipelined, as mqemitter-redis's publishing connection is) against the PUBLISHes of one turn in one
// script call (apps/broker/src/store/redis-bus-batch.ts), on a private redis-server with one subscriber
// reading them back (as a worker's own bus does). CPU is this process's (the subscriber's reads included) and
// redis-server's, per message.
//   npm run build && node bench/bus-publish.mjs [--messages=100000] [--per-turn=100] [--rounds=3] [--bytes=200]
import { loadavg } from 'node:os'
import { Redis } from 'ioredis'
import { createBusBatch } from '../apps/broker/dist/store/redis-bus-batch.js'
import { procCpuUs, startRedisServer } from './lib/procs.mjs'

const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, '').split('='); return [k, v ?? true] }))
const MESSAGES = Number(args.messages ?? 100000)
const PER_TURN = Number(args['per-turn'] ?? 100)
const ROUNDS = Number(args.rounds ?? 3)
const message = Buffer.alloc(Number(args.bytes ?? 200), 7)

const { server, url } = await startRedisServer()
const sub = new Redis(url)
await sub.subscribe('bench/bus')
let received = 0
sub.on('messageBuffer', () => { received++ })

const ways = {
  'a PUBLISH each': (conn) => (channel, m) => conn.publish(channel, m),
  'one script call a turn': (conn) => createBusBatch(conn).publish
}

async function run (name) {
  const conn = new Redis(url, { enableAutoPipelining: true })
  await conn.ping()
  const publish = ways[name](conn)
  const start = received
  const node0 = process.cpuUsage()
  const redis0 = procCpuUs(server.pid)
  for (let i = 0; i < MESSAGES; i += PER_TURN) {
    const turn = []
    for (let j = 0; j < PER_TURN; j++) turn.push(publish('bench/bus', message))
    await Promise.all(turn)
  }
  await sub.ping() // answered once Redis has sent the subscriber every message
  const node = process.cpuUsage(node0)
  const redis = procCpuUs(server.pid) - redis0
  conn.disconnect()
  if (received - start !== MESSAGES) throw new Error(`${name}: ${received - start} of ${MESSAGES} received`)
  return { node: (node.user + node.system) / MESSAGES, redis: redis / MESSAGES }
}

try {
  for (let r = 1; r <= ROUNDS; r++) {
    for (const name of Object.keys(ways)) {
      const { node, redis } = await run(name)
      console.log(`round ${r}  ${name.padEnd(24)} ${node.toFixed(2)} µs/msg node + ${redis.toFixed(2)} redis-server  (load ${loadavg()[0].toFixed(1)})`)
    }
  }
} finally {
  sub.disconnect()
  server.kill()
}
