// Canaries: how bare aedes (2.0.0-beta.1; written for 1.2) (no Warden) connects, takes over, stores and ends sessions, as Warden's
// patches assume (session-present.ts, subscribe-once.ts, qos2-guard.ts, will-owner.ts, client-id guard,
// clean-acks.ts, create-broker.ts). Each fails when that behaviour changes.
import { afterEach, expect, it } from 'vitest'
import type { Packet } from 'mqtt-packet'
import aedesPersistence from 'aedes-persistence'
import type { AuthenticateError, Client, PublishPacket } from 'aedes'
import { clientsOf, markDisconnected, pendingWillOf } from '../../apps/broker/src/aedes/accessors.js'
import { storeOf, type AedesStore } from '../../apps/broker/src/aedes/store.js'
import { startBareBroker, until, type BareBroker } from '../helpers/bare-aedes.js'
import { connectPacket, rawClient, type RawClient } from '../helpers/raw-mqtt.js'

const opened: Array<BareBroker | RawClient> = []
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await ('port' in o ? o.close() : o.destroy())
})

async function bare (opts = {}): Promise<{ b: BareBroker, store: AedesStore }> {
  const persistence = aedesPersistence()
  const b = await startBareBroker({ persistence, ...opts })
  opened.push(b)
  return { b, store: storeOf(persistence) }
}
async function connack (b: BareBroker, id: string, extra = {}): Promise<{ c: RawClient, ack: Packet & { sessionPresent: boolean, returnCode: number } }> {
  const c = await rawClient(b.port)
  opened.push(c)
  c.send(connectPacket(undefined, id, extra))
  return { c, ack: await c.next('connack') as never }
}
/** records every call of a store method (after calling it) */
function spy<K extends keyof AedesStore> (store: AedesStore, name: K): unknown[][] {
  const calls: unknown[][] = []
  const original = (store[name] as (...a: unknown[]) => unknown).bind(store)
  ;(store as unknown as Record<K, unknown>)[name] = (...args: unknown[]) => { calls.push(args); return original(...args) }
  return calls
}

// aedes 1.2.0 called it here (GHSA-p8r9-qf8w-p73r); 2.0.0-beta.1 never does (this canary, written for 1.2,
// failed on beta.1), so aedes/clean-incoming.ts calls it. If aedes calls it again, that patch can go.
it('never calls the store\'s cleanIncoming, on a clean-session CONNECT or close (aedes/clean-incoming.ts calls it)', async () => {
  const { b, store } = await bare()
  const calls = spy(store, 'cleanIncoming')
  await connack(b, 'persistent', { clean: false })
  const { c } = await connack(b, 'clean', { clean: true })
  c.destroy()
  await new Promise((resolve) => setTimeout(resolve, 200))
  expect(calls).toHaveLength(0)
})

it('calls addSubscriptions once per filter of a SUBSCRIBE, each time with the same whole array (subscribe-once.ts)', async () => {
  const { b, store } = await bare()
  const calls = spy(store, 'addSubscriptions')
  const { c } = await connack(b, 'three', { clean: false })
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }, { topic: 'b', qos: 1 }, { topic: 'c', qos: 0 }] } as Packet)
  await c.next('suback')
  expect(calls).toHaveLength(3)
  const arrays = calls.map((args) => args[1] as unknown[])
  expect(arrays[0]).toHaveLength(3)
  expect(arrays.every((a) => a === arrays[0])).toBe(true)
})

it('sets sessionPresent from the stored subscriptions alone, not queued messages (session-present.ts)', async () => {
  const { b, store } = await bare()
  await store.outgoingEnqueue({ clientId: 'queued' }, {
    cmd: 'publish', topic: 'q', payload: Buffer.from('m'), qos: 1, retain: false, dup: false, brokerId: 'x', brokerCounter: 1
  })
  expect((await connack(b, 'queued', { clean: false })).ack.sessionPresent).toBe(false)
  await store.addSubscriptions({ id: 'subscribed' }, [{ topic: 's', qos: 1 }])
  expect((await connack(b, 'subscribed', { clean: false })).ack.sessionPresent).toBe(true)
})

it('runs authenticate before it takes over the client connected with the same id (client-id binding)', async () => {
  let stillThere: boolean | undefined
  const { b } = await bare({
    authenticate: (client: Client, _u: string | undefined, _p: Buffer | undefined, cb: (err: AuthenticateError | null, ok: boolean | null) => void) => {
      const first = clientsOf(b.broker)[client.id]
      if (first === undefined) { cb(null, true); return }
      stillThere = first !== client && !first.closed
      cb(Object.assign(new Error('refused'), { returnCode: 5 }) as AuthenticateError, null)
    }
  })
  const first = await connack(b, 'same-id')
  const second = await connack(b, 'same-id')
  expect(second.ack.returnCode).toBe(5)
  expect(stillThere).toBe(true)
  expect(first.c.isClosed).toBe(false)
})

it('holds the CONNECT\'s will in client._will while authenticate runs (hooks.ts checks its topic there)', async () => {
  let will: PublishPacket | null = null
  const { b } = await bare({
    authenticate: (client: Client, _u: unknown, _p: unknown, cb: (err: null, ok: boolean) => void) => { will = pendingWillOf(client); cb(null, true) }
  })
  await connack(b, 'willing', { will: { topic: 'w/t', payload: Buffer.from('bye'), qos: 0, retain: false } })
  expect(will).toMatchObject({ topic: 'w/t' })
})

it('publishes a dead broker\'s stored will with client null, on its own heartbeat timer (will-owner.ts)', async () => {
  const seen: Array<{ client: Client | null, clientId: unknown }> = []
  const { store } = await bare({
    heartbeatInterval: 50,
    authorizePublish: (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void) => {
      if (packet.topic === 'wills/gone') seen.push({ client, clientId: (packet as PublishPacket & { clientId?: string }).clientId })
      cb(null)
    }
  })
  const will = { cmd: 'publish', topic: 'wills/gone', payload: Buffer.from('gone'), qos: 0, retain: false, dup: false } as PublishPacket & { brokerId?: string }
  await (store as unknown as { putWill (c: { id: string }, p: object): Promise<void> }).putWill({ id: 'gone' }, will)
  will.brokerId = 'a-dead-broker' // stored by a broker that no longer sends heartbeats
  await until(() => seen.length > 0)
  expect(seen[0]).toEqual({ client: null, clientId: 'gone' })
})

it('does not publish the will of a client closed with _disconnected set (sessions.ts closeWithoutWill)', async () => {
  const published: string[] = []
  const { b } = await bare()
  b.broker.on('publish', (p) => { published.push(p.topic) })
  await connack(b, 'kicked', { will: { topic: 'w/kicked', payload: Buffer.from('x'), qos: 0, retain: false } })
  const client = clientsOf(b.broker)['kicked']
  if (client === undefined) throw new Error('not connected')
  markDisconnected(client)
  await new Promise<void>((resolve) => client.close(() => resolve()))
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(published).not.toContain('w/kicked')
})

it('asks the store to clear the packet id of a clean session\'s PUBACK (clean-acks.ts skips it)', async () => {
  const { b, store } = await bare()
  const calls = spy(store, 'outgoingClearMessageId')
  const { c } = await connack(b, 'acker')
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'k', qos: 1 }] } as Packet)
  await c.next('suback')
  b.broker.publish({ cmd: 'publish', topic: 'k', payload: Buffer.from('m'), qos: 1, retain: false, dup: false }, () => {})
  const p = await c.next('publish') as Packet & { messageId: number }
  c.send({ cmd: 'puback', messageId: p.messageId } as Packet)
  await until(() => calls.length === 1)
  expect((calls[0]?.[0] as { clean: boolean }).clean).toBe(true)
})

it('stores a denied filter of a persistent client\'s SUBSCRIBE (create-broker.ts removes it)', async () => {
  const { b, store } = await bare({
    authorizeSubscribe: (_c: Client, sub: { topic: string }, cb: (err: null, s: unknown) => void) => cb(null, sub.topic === 'denied' ? null : sub)
  })
  const { c } = await connack(b, 'mixed', { clean: false })
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ok', qos: 1 }, { topic: 'denied', qos: 1 }] } as Packet)
  await c.next('suback')
  const stored = (await store.subscriptionsByClient({ id: 'mixed' })).map((s) => s.topic).sort()
  expect(stored).toEqual(['denied', 'ok'])
})
