// The store path of a persistent subscriber's QoS 1 or 2 message, alone: the calls aedes makes on the store
// per message (queue, packet id, acknowledgement; QoS 2: the incoming packet and the PUBREL too), through
// aedes-persistence-level and through Warden's level store, on a fresh LevelDB each, in this process.
// CPU time is the process's own (all threads: LevelDB's too), so other work on the machine adds little.
// 'Warden + QoS 2 records' adds what the QoS 2 guard writes beside an incoming message (owner, mark) as the
// build in use writes them.
//   npm run build && node bench/store-path.mjs [--messages=20000] [--window=64] [--rounds=3]
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import aedesPersistenceLevel from 'aedes-persistence-level'
import { LevelQueueStore } from '../apps/broker/dist/store/level-queues.js'

const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, '').split('='); return [k, v ?? true] }))
const MESSAGES = Number(args.messages ?? 20000)
const WINDOW = Number(args.window ?? 64)
const ROUNDS = Number(args.rounds ?? 3)

const stores = {
  'aedes-persistence-level': (db) => aedesPersistenceLevel(db),
  'Warden level store': (db) => new LevelQueueStore(db),
  // and the records Warden's QoS 2 guard keeps beside an incoming QoS 2 message (delivery/qos2-guard.ts)
  'Warden + QoS 2 records': (db) => Object.assign(new LevelQueueStore(db), { guard: true })
}

const OWNER = { id: '\u0000warden-qos2-owner:pub-1' }
const MARK = { id: '\u0000warden-qos2:pub-1' }
const record = (packet, messageId, payload) => ({ ...packet, topic: '', payload: Buffer.from(payload), messageId })

/** the guard's writes of an incoming QoS 2 message: staged and attached to its queue write where the store can
 * (this branch), else awaited one by one around it as the guard did before */
async function storeWithRecords (store, publisher, packet, messageId, sub) {
  if (typeof store.stage === 'function') {
    // the owner record is written only if the publish fails; the packet goes with the queue entries, flagged
    // (as the guard stages them: the owner record made only if needed; earlier builds read packet.messageId)
    const owner = { clientId: OWNER.id, messageId, packet: () => record(packet, messageId, '{"u":"pub"}'), unlessQueued: true }
    const early = { ...owner, packet: owner.packet() }
    store.stage(packet, [typeof store.holds === 'function' ? owner : early, { clientId: publisher.id, messageId, packet: { ...packet, messageId } }])
    store.attach(packet, [{ clientId: publisher.id, packet: { ...packet, messageId, wardenQueued: 1 } }])
    await store.outgoingEnqueueCombi([sub], packet)
    return
  }
  await store.incomingStorePacket(OWNER, record(packet, messageId, '{"u":"pub"}'))
  await store.incomingStorePacket(publisher, { ...packet, messageId })
  await store.outgoingEnqueueCombi([sub], packet)
  await store.incomingStorePacket(MARK, record(packet, messageId, ''))
}

async function delWithRecords (store, publisher, messageId) {
  if (typeof store.stage === 'function') {
    // the records the store holds (since `holds`: none, for a message queued as it should be); earlier, all
    const held = typeof store.holds === 'function' ? [MARK, OWNER].filter((c) => store.holds(c.id, messageId)) : [MARK, OWNER]
    await Promise.all([publisher, ...held].map((c) => store.incomingDelPacket(c, { messageId })))
    return
  }
  for (const c of [publisher, MARK, OWNER]) await store.incomingDelPacket(c, { messageId })
}

/** one message the way aedes 2 stores it for one persistent subscriber */
async function oneMessage (store, qos, n) {
  const sub = { clientId: 'sub-1', topic: 'bench/p/data', qos }
  const client = { id: 'sub-1' }
  const publisher = { id: 'pub-1' }
  const messageId = (n % 65535) + 1
  const packet = { cmd: 'publish', topic: 'bench/p/data', payload: Buffer.alloc(64, 1), qos, retain: false, dup: false, brokerId: 'b', brokerCounter: n + 1 }
  if (qos === 2) await store.incomingGetPacket(publisher, { messageId }).catch(() => {})
  if (qos === 2 && store.guard === true) {
    await storeWithRecords(store, publisher, packet, messageId, sub)
  } else {
    if (qos === 2) await store.incomingStorePacket(publisher, { ...packet, messageId })
    await store.outgoingEnqueueCombi([sub], packet)
  }
  await store.outgoingUpdate(client, { ...packet, messageId })
  if (qos === 2) {
    await store.outgoingUpdate(client, { cmd: 'pubrel', messageId })
    await store.incomingGetPacket(publisher, { messageId, cmd: 'pubrel' })
    if (store.guard === true) await delWithRecords(store, publisher, messageId)
    else await store.incomingDelPacket(publisher, { messageId })
  }
  await store.outgoingClearMessageId(client, { messageId })
}

async function run (name, qos) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-store-path-'))
  try {
    const db = new Level(dir)
    await db.open()
    const store = stores[name](db)
    await store.setup?.({ id: 'b', counter: 0 })
    let next = 0
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    await Promise.all(Array.from({ length: WINDOW }, async () => {
      while (next < MESSAGES) await oneMessage(store, qos, next++)
    }))
    const cpu = process.cpuUsage(c0)
    const wall = Number(process.hrtime.bigint() - t0) / 1e3
    await store.destroy()
    return { cpuUs: (cpu.user + cpu.system) / MESSAGES, wallUs: wall / MESSAGES }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const load = loadavg().map((x) => x.toFixed(2)).join(' ')
console.log(`store path, ${MESSAGES} messages of 64 B, ${WINDOW} in flight, ${ROUNDS} alternating rounds; load ${load}`)
for (const qos of [1, 2]) {
  const runs = Object.fromEntries(Object.keys(stores).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) for (const name of Object.keys(stores)) runs[name].push(await run(name, qos))
  for (const [name, rs] of Object.entries(runs)) {
    const cpu = rs.map((x) => x.cpuUs.toFixed(1)).join(' / ')
    console.log(`QoS ${qos}  ${name.padEnd(24)} CPU µs per message ${cpu}  (wall ${rs.map((x) => x.wallUs.toFixed(1)).join(' / ')})`)
  }
}
