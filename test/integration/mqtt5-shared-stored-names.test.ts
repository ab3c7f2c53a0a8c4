// A persistent session's SUBSCRIBE holding a plain filter and `$share/` ones stores the filters under their
// real names and no other, on 3.1.1 and MQTT 5, memory and level stores; resumed, the session holds the same
// filters, no stored name is refused, and the member gets its group's messages once. aedes 2.0.0-beta.1 stores
// a SUBSCRIBE's filters as it stores the first one authorized, while Warden still had the `$share/` filters of an
// MQTT 5 client disguised from aedes's 0x9E check (aedes/shared-subscribe.ts): `$SHARE\u0000/…` was stored beside
// them, counted in the sessions API and refused as not granted at each resume. A session stored so is cleaned
// as it resumes. Redis, MQTT 5: the store makes the packet's store calls one write by their array
// (store/subscribe-once.ts), which must stay one array once the names are mended.
import type { IClientOptions } from 'mqtt'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { get } from '../helpers/http.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { connect5, subscribe5, type V5Client } from '../helpers/mqtt5.js'
import { startRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { storeOf } from '../../apps/broker/src/aedes/store.js'

const scope = useScope()

const ID = 'share-p'
const PLAIN = 'sensors/sensor-1/a'
const GROUP = '$share/g/sensors/#'
/** the consumer role reads sensors/# only: refused */
const REFUSED_GROUP = '$share/h/private/#'
/** plain first: aedes stores the whole packet's filters as it stores the first one authorized */
const FILTERS = [PLAIN, GROUP, REFUSED_GROUP]
const REAL = [GROUP, PLAIN]
const REFUSED = { 4: 0x80, 5: 0x87 } as const
/** the disguise Warden stored before the fix */
const LEAKED = ['$SHARE\u0000/g/sensors/#', '$SHARE\u0000/h/private/#']

/** what the test needs of an MQTT.js client, 3.1.1 or 5 */
interface Member {
  subscribe (filters: string[]): Promise<number[]>
  /** payloads received on `topic`, in order */
  payloads (topic: string): string[]
  /** resolves once `n` messages on `topic` have arrived */
  count (topic: string, n: number): Promise<void>
  present?: boolean
  end (): Promise<void>
}

function v3 (c: TestClient): Member {
  const on = (topic: string): string[] => c.messages.filter((m) => m.topic === topic).map((m) => m.payload)
  return {
    subscribe: (filters) => subscribe(c, filters, 1),
    payloads: on,
    count: async (topic, n) => { await c.waitFor(() => on(topic).length >= n, `${n} messages on ${topic}`) },
    end: () => c.end()
  }
}

function v5 (c: V5Client): Member {
  const on = (topic: string): string[] => c.got.filter((p) => p.topic === topic).map((p) => p.payload.toString())
  return {
    subscribe: (filters) => subscribe5(c, filters, { qos: 1 }),
    payloads: on,
    count: async (topic, n) => { await c.next(() => on(topic).length >= n) },
    present: c.connack.sessionPresent,
    end: () => c.end()
  }
}

/** a persistent session: 3.1.1 clean=false, MQTT 5 Clean Start 0 with a Session Expiry Interval */
async function connectMember (version: 4 | 5): Promise<Member> {
  if (version === 4) return v3(await scope.client('dashboard', { clientId: ID, clean: false }))
  const opts: IClientOptions = { clientId: ID, clean: false, properties: { sessionExpiryInterval: 300 } }
  return v5(await connect5(scope, scope.tb.url, 'dashboard', opts))
}

/** a broker on `persistence` (Redis started for it, stopped after the broker) */
async function startOn (persistence: 'memory' | 'level' | 'redis'): Promise<TestBroker> {
  if (persistence !== 'redis') return await scope.start({ config: { persistence } })
  const redis = await startRedis()
  try {
    const tb = await scope.start({ config: { persistence, redis: { url: redis.url } } })
    scope.defer(async () => { await tb.stop(); await redis.stop() })
    return tb
  } catch (err) {
    await redis.stop()
    throw err
  }
}

const storeIn = (tb: TestBroker): ReturnType<typeof storeOf> => storeOf((tb.broker.aedes as unknown as { persistence: unknown }).persistence)

/** the filters the broker's store holds for the member, sorted */
async function stored (tb: TestBroker): Promise<string[]> {
  return (await storeIn(tb).subscriptionsByClient({ id: ID })).map((s) => s.topic).sort()
}

/** the member's filters as the clients API (dashboard, `warden clients`) shows them, sorted */
async function listed (tb: TestBroker): Promise<string[]> {
  const reply = await get(tb, '/api/v1/clients', { as: 'observer' })
  const c = (reply.body.clients as Array<{ clientId: string, subscriptions: Array<{ filter: string }> }>).find((x) => x.clientId === ID)
  return (c?.subscriptions ?? []).map((s) => s.filter).sort()
}

/** what the sessions API (dashboard, `warden sessions`) counts of the member's stored subscriptions */
async function counted (tb: TestBroker): Promise<number> {
  return (await get(tb, `/api/v1/sessions/${ID}`, { as: 'observer' })).body.subscriptions as number
}

const refusedTopics = (): string[] => scope.events.filter((e) => e.kind === 'subscribe').map((e) => e.topic ?? '')

/**
 * the group's messages reach the member once: `payload` on sensors/sensor-1/b (the group's only), then a marker
 * on the plain filter, which the group matches too: once both copies of the marker are in, so is every earlier
 * message of the group
 */
async function expectOnce (m: Member, pub: TestClient, payload: string, before: string[]): Promise<void> {
  const markers = m.payloads(PLAIN).length
  await publish(pub, 'sensors/sensor-1/b', payload, { qos: 1 })
  await publish(pub, PLAIN, `marker-${payload}`, { qos: 1 })
  await m.count(PLAIN, markers + 2)
  expect(m.payloads('sensors/sensor-1/b')).toEqual([...before, payload])
}

describe.each([
  { persistence: 'memory', version: 4 },
  { persistence: 'memory', version: 5 },
  { persistence: 'level', version: 4 },
  { persistence: 'level', version: 5 },
  { persistence: 'redis', version: 5 }
] as const)('$persistence store, MQTT $version', ({ persistence, version }) => {
  it('one SUBSCRIBE of a plain and $share/ filters stores their real names only; resumed, the member gets its group\'s messages once', async () => {
    const tb = await startOn(persistence)
    const pub = await scope.client('sensor-1')
    const first = await connectMember(version)
    expect(await first.subscribe(FILTERS)).toEqual([1, 1, REFUSED[version]])
    await expectOnce(first, pub, 'live', [])
    // (the refused one is removed after the SUBACK: the messages above came after it)
    expect(await stored(tb)).toEqual(REAL)
    expect(await counted(tb)).toBe(2)
    expect(refusedTopics()).toEqual([REFUSED_GROUP])
    await first.end()

    // kept by the group for its persistent member meanwhile
    await publish(pub, 'sensors/sensor-1/b', 'away', { qos: 1 })
    const again = await connectMember(version)
    if (version === 5) expect(again.present).toBe(true)
    await again.count('sensors/sensor-1/b', 1)
    await expectOnce(again, pub, 'back', ['away'])
    expect(await listed(tb)).toEqual(REAL)
    expect(await stored(tb)).toEqual(REAL)
    expect(refusedTopics()).toEqual([REFUSED_GROUP])
  })

  it('a session stored with the disguised names beside its filters resumes without them, and they leave the store', async () => {
    const tb = await startOn(persistence)
    const pub = await scope.client('sensor-1')
    const first = await connectMember(version)
    expect(await first.subscribe(REAL)).toEqual([1, 1])
    await first.end()
    // as the store was written before the fix; after the real filters (the memory store lists in that order)
    await storeIn(tb).addSubscriptions({ id: ID }, LEAKED.map((topic) => ({ topic, qos: 1 })))
    expect(await stored(tb)).toEqual([...LEAKED, ...REAL].sort())

    const again = await connectMember(version)
    if (version === 5) expect(again.present).toBe(true)
    expect(await stored(tb)).toEqual(REAL)
    expect(await counted(tb)).toBe(2)
    expect(await listed(tb)).toEqual(REAL)
    await expectOnce(again, pub, 'back', [])
    expect(refusedTopics()).toEqual([])
  })
})
