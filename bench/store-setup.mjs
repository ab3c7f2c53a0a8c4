// The level store's start-up with a backlog: how long `setup` takes to index N queued messages (10 persistent
// sessions, 64 B each, QoS 1, none sent), in this process, on a fresh LevelDB. Since queue entries may hold
// their packet id (store/level-queues.ts), setup reads every queued message, not only its key.
//   npm run build && node bench/store-setup.mjs [--messages=100000] [--rounds=3]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { LevelQueueStore } from '../apps/broker/dist/store/level-queues.js'

const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, '').split('='); return [k, v ?? true] }))
const N = Number(args.messages ?? 100000)
const ROUNDS = Number(args.rounds ?? 3)
const broker = { id: 'b', counter: 0 }

const dir = mkdtempSync(join(tmpdir(), 'warden-store-setup-'))
try {
  let db = new Level(dir)
  await db.open()
  let store = new LevelQueueStore(db)
  await store.setup(broker)
  const subs = Array.from({ length: 10 }, (_, i) => ({ clientId: `reader-${i}`, qos: 1 }))
  for (let n = 0; n < N / subs.length; n++) {
    const p = { cmd: 'publish', topic: 'sensors/s/t', payload: Buffer.alloc(64, 1), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: n + 1 }
    const written = store.outgoingEnqueueCombi(subs, p)
    if (n % 500 === 499) await written
  }
  await store.destroy()
  if (db.status === 'open') await db.close()
  for (let r = 0; r < ROUNDS; r++) {
    db = new Level(dir)
    await db.open()
    store = new LevelQueueStore(db)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    await store.setup(broker)
    const cpu = process.cpuUsage(c0)
    console.log(`${N} queued messages: setup ${(performance.now() - t0).toFixed(0)} ms, CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`)
    await store.destroy()
    if (db.status === 'open') await db.close()
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
