// The aedes internals Warden's adapter relies on (apps/broker/src/aedes/contract.ts) exist with their shape
// on a real aedes 1.2 broker, client and each store: an aedes upgrade that renames one fails here.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Level } from 'level'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import aedesPersistence from 'aedes-persistence'
import aedesPersistenceLevel from 'aedes-persistence-level'
import type { Packet } from 'mqtt-packet'
import { busOf, clientsOf, connOf, parserOf } from '../../apps/broker/src/aedes/accessors.js'
import { clientInternals } from '../../apps/broker/src/aedes/internals.js'
import { heldPacketIds, holdPacketId, installPacketIds, keepIdsOf } from '../../apps/broker/src/aedes/packet-ids.js'
import { connectPacket, packetWhere, rawClient } from '../helpers/raw-mqtt.js'
import {
  BROKER_INTERNALS, BUS_INTERNALS, CLIENT_INTERNALS, CONN_INTERNALS, PARSER_INTERNALS, STORE_INTERNALS, checkInternals
} from '../../apps/broker/src/aedes/contract.js'
import { createStore } from '../../apps/broker/src/store/persistence.js'
import { startBareBroker } from '../helpers/bare-aedes.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

// the redis store and its ioredis are the broker's own (apps/broker/node_modules), as Warden runs them
const fromBroker = createRequire(join(import.meta.dirname, '../../apps/broker/package.json'))
const { default: aedesPersistenceRedis } = await import(pathToFileURL(fromBroker.resolve('aedes-persistence-redis')).href) as {
  default: (o: { conn: unknown }) => object
}
const { Redis } = await import(pathToFileURL(fromBroker.resolve('ioredis')).href) as { Redis: new (url: string) => { disconnect (): void } }

interface StoreCase { name: string, open (): Promise<{ persistence: object, close (): Promise<void> }> }

let redis: TestRedis | undefined
beforeAll(async () => { redis = await startRedis() })
afterAll(async () => { await redis?.stop() })

const STORES: StoreCase[] = [
  { name: 'memory', open: async () => ({ persistence: aedesPersistence(), close: async () => {} }) },
  {
    name: 'level',
    async open () {
      const dir = await mkdtemp(join(tmpdir(), 'warden-contract-'))
      const db = new Level<string, unknown>(dir)
      await db.open()
      return { persistence: aedesPersistenceLevel(db), close: async () => { await db.close(); await rm(dir, { recursive: true, force: true }) } }
    }
  },
  {
    // what the broker runs on `persistence: level`: Warden's store (store/level-queues.ts) in the callback layer
    name: 'Warden level',
    async open () {
      const dir = await mkdtemp(join(tmpdir(), 'warden-contract-'))
      const store = await createStore({ kind: 'level', dataDir: dir, brokerId: 'contract' })
      return { persistence: store.persistence, close: async () => { await store.close(); await rm(dir, { recursive: true, force: true }) } }
    }
  },
  {
    name: 'redis',
    async open () {
      const conn = new Redis(redis?.url ?? '')
      return { persistence: aedesPersistenceRedis({ conn }), close: async () => { conn.disconnect() } }
    }
  }
]

it('runs against the pinned aedes 2.0.0-beta.1', () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../apps/broker/package.json'), 'utf8')) as { dependencies: Record<string, string> }
  expect(pkg.dependencies.aedes).toBe('2.0.0-beta.1')
  const installed = JSON.parse(readFileSync(join(import.meta.dirname, '../../node_modules/aedes/package.json'), 'utf8')) as { version: string }
  expect(installed.version).toBe('2.0.0-beta.1')
})

describe.each(STORES)('aedes 1.2 with the $name store', (store) => {
  it('has every broker, bus, client, parser and store internal of the adapter, with its shape', async () => {
    const s = await store.open()
    const bare = await startBareBroker({ persistence: s.persistence as never })
    try {
      checkInternals(bare.broker, BROKER_INTERNALS, 'broker')
      checkInternals(busOf(bare.broker), BUS_INTERNALS, 'broker.mq')
      checkInternals(s.persistence, STORE_INTERNALS, 'persistence')
      const client = bare.idleClient()
      checkInternals(client, CLIENT_INTERNALS, 'client')
      checkInternals(parserOf(client), PARSER_INTERNALS, 'client._parser')
      checkInternals(connOf(client), CONN_INTERNALS, 'client.conn')
    } finally {
      await bare.close()
      await s.close()
    }
  })
})

// aedes/packet-ids.ts: aedes's QoSPacket reads `_nextId` for each QoS 1/2 delivery and then writes the next one (1
// after 65535); the accessor Warden puts on aedes's Client prototype skips the ids the session holds and holds the
// one read. An aedes that numbered otherwise would give held ids again: this fails.
it('aedes numbers QoS 1/2 deliveries from _nextId, read then moved on: ids held are skipped, each given id is held', async () => {
  await installPacketIds()
  const bare = await startBareBroker()
  keepIdsOf(bare.broker)
  const c = await rawClient(bare.port)
  try {
    c.send(connectPacket(undefined, 'ids-contract'))
    await c.next('connack')
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ids/#', qos: 1 }] } as Packet)
    await c.next('suback')
    const client = clientsOf(bare.broker)['ids-contract']
    if (client === undefined) throw new Error('not connected')
    clientInternals(client)._nextId = 65534
    holdPacketId(client, 65535)
    holdPacketId(client, 1)
    for (const n of [1, 2, 3]) {
      await new Promise<void>((resolve) => {
        bare.broker.publish({ cmd: 'publish', topic: 'ids/x', payload: Buffer.from(`m${n}`), qos: 1, retain: false, dup: false }, () => resolve())
      })
    }
    await packetWhere(c, () => c.packets.filter((p) => p.cmd === 'publish').length === 3)
    expect(c.packets.filter((p) => p.cmd === 'publish').map((p) => (p as { messageId?: number }).messageId)).toEqual([65534, 2, 3])
    expect([...heldPacketIds(client)].sort((a, b) => a - b)).toEqual([1, 2, 3, 65534, 65535])
  } finally {
    c.destroy()
    await bare.close()
  }
})
