// Incoming QoS 2 packets on `persistence: redis` (and the QoS 2 guard's records, kept as a pseudo client's):
// Warden's Redis store writes and removes them in the script call of the event-loop turn (store/redis-batch.ts)
// instead of an ioredis command each — a QoS 2 message was six such commands. What must hold as before: each
// write is awaited, they run in the order they were made, a read of a field comes after a write of it made
// before the read, and aedes-persistence-redis (a worker not yet upgraded) reads what this writes.
import { createRequire } from 'node:module'
import { Redis } from 'ioredis'
import type { Packet } from 'mqtt-packet'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startBrokerProcess } from '../helpers/broker-process.js'
import { useBrokerEnv } from '../helpers/broker-env.js'
import { rawSession } from '../helpers/raw-mqtt.js'
import { RedisQueueStore } from '../../apps/broker/src/store/redis-queues.js'
import { storeOf, type AedesStore, type StoredPacket } from '../../apps/broker/src/aedes/store.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { waitUntil } from '../helpers/ports.js'

const require = createRequire(import.meta.url)
const mqemitter = require('mqemitter') as () => { emit (...a: unknown[]): unknown, on (...a: unknown[]): unknown, removeListener (...a: unknown[]): unknown }
type OldStore = new (opts: { conn: Redis }) => {
  setup (broker: object): Promise<void>
  incomingGetPacket (client: { id: string }, packet: { messageId: number }): Promise<StoredPacket>
  destroy (): Promise<void>
}
const brokerRequire = createRequire(new URL('../../apps/broker/package.json', import.meta.url))
const AsyncRedisPersistence = brokerRequire('aedes-persistence-redis/asyncPersistence.js') as OldStore

const scope = useScope()
let redis: TestRedis
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis.stop() })
beforeEach(async () => { await redis.flush() })

const fakeBroker = (): object => {
  const mq = mqemitter()
  return { id: 'b-1', mq, counter: 0, publish: mq.emit.bind(mq), subscribe: mq.on.bind(mq), unsubscribe: mq.removeListener.bind(mq) }
}

async function open (): Promise<AedesStore> {
  const raw = new RedisQueueStore({ conn: new Redis(redis.url, { enableAutoPipelining: true }) })
  await raw.setup(fakeBroker())
  scope.defer(() => raw.destroy())
  return storeOf(raw)
}

const incoming = (messageId: number): StoredPacket => ({
  cmd: 'publish', topic: 'sensors/s-1/q2', payload: Buffer.from(`p-${messageId}`), qos: 2, retain: false, dup: false, messageId,
  brokerId: 'b-1', brokerCounter: 1000 + messageId
})
const publisher = { id: 'pub-1' }

/** the commands clients sent Redis (MONITOR: not those a script ran), by name */
async function watchTopLevel (): Promise<string[]> {
  const r = new Redis(redis.url)
  const monitor = await r.monitor()
  scope.defer(async () => { monitor.disconnect(); r.disconnect() })
  const seen: string[] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => { if (source !== 'lua') seen.push(String(args[0]).toLowerCase()) })
  return seen
}

/** once MONITOR has shown a PING sent now: every command sent before it is in `seen` */
async function seenSoFar (seen: string[]): Promise<void> {
  const r = new Redis(redis.url)
  scope.defer(() => { r.disconnect() })
  const pings = seen.filter((c) => c === 'ping').length
  await r.ping()
  await waitUntil(() => seen.filter((c) => c === 'ping').length > pings ? true : undefined, 'MONITOR to show the PING', 5_000, 5)
}

describe('incoming QoS 2 packets in Warden\'s Redis store', () => {
  it('are written, removed and read in one script call a turn, no HSET, HDEL or HGET of their own', async () => {
    const store = await open()
    const seen = await watchTopLevel()
    await Promise.all([1, 2, 3, 4].map(async (id) => { await store.incomingStorePacket(publisher, incoming(id)) }))
    await Promise.all([1, 2].map(async (id) => { await store.incomingDelPacket(publisher, { messageId: id }) }))
    // both in one call
    const three = store.incomingGetPacket(publisher, { messageId: 3 })
    const one = store.incomingGetPacket(publisher, { messageId: 1 })
    await expect(one).rejects.toThrow()
    expect((await three).payload).toEqual(Buffer.from('p-3'))
    await seenSoFar(seen)
    expect(seen.filter((c) => c === 'hset' || c === 'hdel' || c.startsWith('hget'))).toEqual([])
    expect(seen.filter((c) => c === 'evalsha' || c === 'eval')).toHaveLength(3)
  })

  it('a PUBREL\'s lookup reads nothing: aedes removes the packet either way (a removal of one not there is nothing)', async () => {
    const store = await open()
    await store.incomingStorePacket(publisher, incoming(5))
    const seen = await watchTopLevel()
    expect(await store.incomingGetPacket(publisher, { messageId: 5, cmd: 'pubrel' })).toBeTruthy()
    expect(await store.incomingGetPacket(publisher, { messageId: 6, cmd: 'pubrel' })).toBeTruthy()
    await store.incomingDelPacket(publisher, { messageId: 6 })
    expect((await store.incomingGetPacket(publisher, { messageId: 5 })).payload).toEqual(Buffer.from('p-5'))
    await seenSoFar(seen)
    expect(seen.filter((c) => c !== 'evalsha' && c !== 'eval' && c !== 'ping' && c !== 'info')).toEqual([])
    // the removal and the read: two calls
    expect(seen.filter((c) => c === 'evalsha' || c === 'eval')).toHaveLength(2)
  })

  it('a read made after a write not yet sent finds what it wrote, and after a removal not yet sent finds nothing', async () => {
    const store = await open()
    const written = store.incomingStorePacket(publisher, incoming(7))
    const read = store.incomingGetPacket(publisher, { messageId: 7 })
    expect((await read).payload).toEqual(Buffer.from('p-7'))
    await written
    const removed = store.incomingDelPacket(publisher, { messageId: 7 })
    await expect(store.incomingGetPacket(publisher, { messageId: 7 })).rejects.toThrow()
    await removed
  })

  it('runs the writes in the order they were made: a packet stored, then all the client\'s dropped, leaves none', async () => {
    const store = await open()
    const written = store.incomingStorePacket(publisher, incoming(8))
    const cleaned = store.cleanIncoming?.(publisher)
    await Promise.all([written, cleaned])
    const r = new Redis(redis.url)
    scope.defer(() => { r.disconnect() })
    expect(await r.exists('incoming:pub-1')).toBe(0)
  })

  it('writes what aedes-persistence-redis reads (a worker not yet upgraded)', async () => {
    const store = await open()
    await store.incomingStorePacket(publisher, incoming(9))
    const old = new AsyncRedisPersistence({ conn: new Redis(redis.url) })
    await old.setup(fakeBroker())
    scope.defer(() => old.destroy())
    const got = await old.incomingGetPacket(publisher, { messageId: 9 })
    expect({ ...got, payload: Buffer.from(got.payload as Uint8Array) }).toMatchObject({
      cmd: 'publish', topic: 'sensors/s-1/q2', payload: Buffer.from('p-9'), qos: 2, messageId: 9, brokerId: 'b-1', brokerCounter: 1009
    })
  })
})

describe('a QoS 2 message\'s PUBREL on redis', () => {
  const onRedis = useBrokerEnv(scope, 'warden-redis-incoming-', 'redis')

  it('removes the packet and the QoS 2 guard\'s records in one script call, the packet first', async () => {
    const node = await startBrokerProcess({ ...onRedis.env() })
    scope.defer(() => node.app.stop('SIGKILL'))
    const d = scope.track(await rawSession(node.port, 'sensor-1', 'device-1', { clean: false }))
    d.send({ cmd: 'publish', topic: 'sensors/sensor-1/q2', payload: Buffer.from('x'), qos: 2, messageId: 7, retain: false, dup: false } as Packet)
    await d.next('pubrec')
    // every command from here on, in Redis's order: a script's own run together (a script runs whole)
    const r = new Redis(onRedis.redis.url)
    const monitor = await r.monitor()
    scope.defer(async () => { monitor.disconnect(); r.disconnect() })
    const runs: string[][][] = []
    let run: string[][] | null = null
    const SENTINEL = 'warden-test-sentinel'
    let sentinelSeen: () => void = () => {}
    const sentinel = new Promise<void>((resolve) => { sentinelSeen = resolve })
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua') {
        run = null
        if (String(args[0]).toLowerCase() === 'echo' && args[1] === SENTINEL) sentinelSeen()
        return
      }
      if (run === null) runs.push(run = [])
      run.push(args)
    })
    d.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    await d.next('pubcomp')
    // aedes sends PUBCOMP once the removal is done; MONITOR's stream, on its own connection, can come later. It
    // shows commands in the order Redis ran them: once it shows a command sent now, it has shown the removal
    const other = new Redis(onRedis.redis.url)
    scope.defer(() => { other.disconnect() })
    await other.echo(SENTINEL)
    await sentinel
    const removals = (cmds: string[][]): string[] => cmds
      .filter((a) => a[0]?.toLowerCase() === 'hdel' && a[1]?.startsWith('incoming:') === true && a[2] === '7')
      .map((a) => a[1] as string)
    const withRemovals = runs.filter((cmds) => removals(cmds).length > 0)
    expect(withRemovals).toHaveLength(1)
    const keys = removals(withRemovals[0] as string[][])
    expect(keys[0]).toBe('incoming:device-1')
    expect(keys.length).toBeGreaterThan(1)
  })
})
