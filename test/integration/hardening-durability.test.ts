// Acknowledged messages are not lost: the QoS 2 window across a crash, queue keys across restarts under a
// fixed broker id, and live delivery under concurrent QoS 1/2 load.
import { join } from 'node:path'
import { Level } from 'level'
import aedesPersistenceLevel from 'aedes-persistence-level'
import { expect, it } from 'vitest'
import { MARK_PREFIX } from '../../apps/broker/src/delivery/qos2-guard.js'
import { ownerRecord } from '../../apps/broker/src/delivery/qos2-owner.js'
import type { TestBroker } from '../helpers/broker.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const client = (b: TestBroker, username: string, opts = {}): Promise<TestClient> => scope.client(username, opts, b)

interface StoreApi {
  incomingStorePacket (client: { id: string }, packet: object): Promise<void>
  destroy (): Promise<void>
}

/** Writes incoming QoS 2 packets into a stopped broker's store, as a broker killed mid-publish leaves them. */
async function plantIncoming (dataDir: string, entries: Array<{ clientId: string, packet: object }>): Promise<void> {
  const db = new Level<string, unknown>(join(dataDir, 'mqtt-store'))
  await db.open()
  const store = aedesPersistenceLevel(db) as unknown as StoreApi
  for (const e of entries) await store.incomingStorePacket({ id: e.clientId }, e.packet)
  await store.destroy()
}

it('publishes a QoS 2 message stored but not yet published when the broker died, once, when the publisher sends it again', async () => {
  const first = await scope.start()
  const dash = await client(first, 'dashboard', { clientId: 'dash', clean: false })
  await subscribe(dash, 'sensors/#', 2)
  await dash.end()
  const owner = { u: 'sensor-1', a: first.broker.directory.accounts.get('sensor-1')?.id }

  const q2 = (messageId: number, payload: string): object => ({
    cmd: 'publish', topic: 'sensors/sensor-1/q2', payload: Buffer.from(payload), qos: 2, retain: false, dup: false,
    messageId, brokerId: 'dead-broker', brokerCounter: 1000 + messageId
  })
  // the broker is stopped while the packets are planted
  const b = await scope.restart({
    whileStopped: async (dataDir) => await plantIncoming(dataDir, [
      // stored, then the broker died before publishing: aedes 1.2 would answer PUBREC and never publish it
      { clientId: 'pub', packet: q2(42, 'stored, never published') },
      // who published it, stored beside it: checked again before it is published
      ownerRecord('pub', q2(42, '') as { messageId: number }, owner),
      // stored and published (marked) before the broker died: it must not be published twice
      { clientId: 'pub', packet: q2(43, 'stored and published') },
      { clientId: `${MARK_PREFIX}pub`, packet: { ...q2(43, ''), topic: '' } }
    ])
  })
  const back = await client(b, 'dashboard', { clientId: 'dash', clean: false })
  const pub = scope.track(await rawSession(b.port, 'sensor-1', 'pub', { clean: false }))
  for (const id of [42, 43]) {
    const payload = Buffer.from(id === 42 ? 'stored, never published' : 'stored and published')
    pub.send({ cmd: 'publish', topic: 'sensors/sensor-1/q2', payload, qos: 2, messageId: id, dup: true, retain: false })
  }
  await pub.next('pubrec')
  pub.send({ cmd: 'pubrel', messageId: 42 })
  pub.send({ cmd: 'pubrel', messageId: 43 })
  await pub.next('pubcomp')
  const s1 = await client(b, 'sensor-1')
  await publish(s1, 'sensors/sensor-1/q2', 'marker', { qos: 2 })
  await back.waitFor((m) => m.payload === 'marker')
  expect(back.messages.map((m) => m.payload)).toEqual(['stored, never published', 'marker'])
  expect(pub.packets.filter((p) => p.cmd === 'pubrec').map((p) => p.messageId).sort()).toEqual([42, 43])
  pub.destroy()
})

it('keeps messages queued before a restart under a fixed broker id: the new run numbers its messages apart', async () => {
  const first = await scope.start({ config: { brokerId: 'fixed-id' } })
  const dash = await client(first, 'dashboard', { clientId: 'dash', clean: false })
  await subscribe(dash, 'sensors/#', 1)
  await dash.end()
  const s1 = await client(first, 'sensor-1')
  for (const m of ['a1', 'a2', 'a3']) await publish(s1, 'sensors/sensor-1/x', m, { qos: 1 })
  await s1.end()

  // same data dir, same broker id
  const b = await scope.restart()
  const s1b = await client(b, 'sensor-1')
  for (const m of ['b1', 'b2', 'b3']) await publish(s1b, 'sensors/sensor-1/x', m, { qos: 1 })
  const back = await client(b, 'dashboard', { clientId: 'dash', clean: false })
  await back.waitFor((m) => m.payload === 'b3')
  expect(back.messages.map((m) => m.payload).sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3'])
})

it('delivers every message live under concurrent QoS 1 and QoS 2 publishers, QoS 2 exactly once', async () => {
  const b = await scope.start({ config: { topics: [{ filter: 'load/{username}/#', owners: ['{username}'] }], users: await loadUsers(10) } })
  const clean = await client(b, 'reader', { clientId: 'clean-reader' })
  const durable = await client(b, 'reader', { clientId: 'durable-reader', clean: false })
  await subscribe(clean, 'load/#', 2)
  await subscribe(durable, 'load/#', 2)
  const N = 60
  const pubs = await Promise.all(Array.from({ length: 10 }, (_, i) => client(b, `p${i}`)))
  await Promise.all(pubs.map((p, i) => Promise.all(Array.from({ length: N }, (_, k) =>
    publish(p, `load/p${i}/x`, `p${i}:${k}`, { qos: (i % 2 + 1) as 1 | 2 })))))
  const expected = pubs.length * N
  for (const reader of [clean, durable]) {
    await reader.waitFor(() => reader.messages.length >= expected, 'every message')
    const seen = new Map<string, number>()
    for (const m of reader.messages) seen.set(m.payload, (seen.get(m.payload) ?? 0) + 1)
    expect(seen.size).toBe(expected)
    const q2dups = [...seen].filter(([p, n]) => n > 1 && Number(p.slice(1, p.indexOf(':'))) % 2 === 1)
    expect(q2dups).toEqual([])
  }
})

it('delivers a message numbered below one the client already had (aedes 1.2 drops it), and a message matching two subscriptions once', async () => {
  const b = await scope.start()
  const obs = await client(b, 'observer')
  expect(await subscribe(obs, ['sensors/#', 'sensors/+/x'], 1)).toEqual([1, 1])
  const aedes = b.broker.aedes as unknown as { publish (p: object, cb: () => void): void, counter: number }
  // numbers as a publish that started earlier but finished later would carry
  const send = (payload: string, brokerCounter: number): Promise<void> => new Promise((resolve) => aedes.publish({
    cmd: 'publish', topic: 'sensors/sensor-1/x', payload: Buffer.from(payload), qos: 1, retain: false, dup: false, brokerId: b.broker.id, brokerCounter
  }, resolve))
  const n = aedes.counter
  aedes.counter = n + 2 // the two numbers are taken, as the QoS 2 guard takes them
  await send('numbered later, finished first', n + 2)
  await send('numbered earlier, finished later', n + 1)
  await obs.waitFor((m) => m.payload === 'numbered earlier, finished later')
  const s1 = await client(b, 'sensor-1')
  await publish(s1, 'sensors/sensor-1/x', 'marker', { qos: 1 })
  await obs.waitFor((m) => m.payload === 'marker')
  expect(obs.messages.map((m) => m.payload)).toEqual(['numbered later, finished first', 'numbered earlier, finished later', 'marker'])
})

async function loadUsers (n: number): Promise<object[]> {
  const { fastHash, PASSWORD } = await import('../helpers/broker.js')
  const passwordHash = await fastHash(PASSWORD)
  return [
    { username: 'reader', passwordHash, roles: ['observer'] },
    ...Array.from({ length: n }, (_, i) => ({ username: `p${i}`, passwordHash, roles: ['producer'] }))
  ]
}
