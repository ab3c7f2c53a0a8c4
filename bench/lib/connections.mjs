// Memory per idle connection: the broker's resident memory before and after N idle clients connect and
// subscribe (Node brokers are garbage-collected before each reading).
import { spawnGenerator } from './procs.mjs'
import { idleClients } from './workloads.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const PER_PROCESS = 2500

export async function runConnections (broker, n) {
  // one connection first: what the first packet written allocates once per process (mqtt-packet's cache of
  // 65,536 two-byte Buffers, ~6 MiB of heap) is not the connections' (it was 6.3 KiB per connection at 1k)
  const first = { clientId: 'idle-warm', subs: [['idle/idle-warm', 1]] }
  const warm = spawnGenerator({ role: 'idle', port: broker.port, clients: [first], localAddress: '127.0.0.9' })
  await warm.ready
  const before = await broker.sample(true)
  const t0 = Date.now()
  const gens = idleClients(n, PER_PROCESS).map((g) =>
    spawnGenerator({ role: 'idle', port: broker.port, clients: g.clients, localAddress: g.localAddress, connectConcurrency: 32 }))
  try {
    const ready = await Promise.all(gens.map((g) => g.ready))
    const connectMs = Date.now() - t0
    await sleep(1000)
    const after = await broker.sample(true)
    const connected = ready.reduce((s, r) => s + r.connected, 0)
    return {
      workload: `idle ${n / 1000}k`,
      connections: connected,
      connectPerSec: connected / (connectMs / 1000),
      rssPerConnKiB: (after.rss - before.rss) / connected / 1024,
      heapPerConnKiB: after.heap === null ? null : (after.heap - before.heap) / connected / 1024,
      rssTotalMiB: after.rss / 1048576
    }
  } finally {
    await Promise.all([...gens, warm].map((g) => g.close()))
  }
}
