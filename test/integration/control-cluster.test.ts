// Cluster mode (persistence: redis): the registry is shared through Redis, so a change made through one
// broker's API reaches the clients of another broker at their next packet.
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { get, patch, post, topicPath } from '../helpers/http.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const node = (brokerId: string): Promise<TestBroker> => scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId } })
const client = (b: TestBroker, username: string): Promise<TestClient> => scope.client(username, {}, b)
const changed = (b: TestBroker): Promise<void> => new Promise((resolve) => b.broker.registry.onChange(() => resolve()))

describe('two brokers on one Redis', () => {
  it('seed the shared registry once', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    expect(a.broker.registry.state.revision).toBe(1)
    expect(b.broker.registry.state.revision).toBe(1)
    expect((await get(b, '/api/v1/status')).body.registry).toMatchObject({ backend: 'redis', revision: 1 })
  })

  it('apply a change made through the other broker\'s API to their own connected clients', async () => {
    const a = await node('a')
    const b = await node('b')
    const observer = await client(b, 'observer')
    const owner = await client(b, 'sensor-1')
    await subscribe(observer, ['sensors/#', '$SYS/warden/audit/#'], 1)
    await publish(owner, 'sensors/sensor-1/t', 'before', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'before')

    const applied = changed(b)
    expect((await patch(a, topicPath('sensors/sensor-1/#'), { owners: ['sensor-2'] })).status).toBe(200)
    await applied
    expect(b.broker.registry.topic('sensors/sensor-1/#')?.owners).toEqual(['sensor-2'])
    await publish(owner, 'sensors/sensor-1/t', 'after', { qos: 1 })
    const audit = await observer.waitFor((m) => m.topic === '$SYS/warden/audit/publish')
    expect(JSON.parse(audit.payload)).toMatchObject({ reason: 'not-owner', username: 'sensor-1', brokerId: 'b' })
    expect(observer.messages.filter((m) => !m.topic.startsWith('$SYS')).map((m) => m.payload)).toEqual(['before'])

    // and the other way round: an account created through b logs in at a
    const created = changed(a)
    expect((await post(b, '/api/v1/users', { username: 'roaming', password: 'roaming-secret', roles: ['consumer'] })).status).toBe(201)
    await created
    expect(await connackCode(a.url, { username: 'roaming', password: 'roaming-secret' })).toBe(0)
  })

  it('apply a role\'s new grants made through the other broker to their own connected holders', async () => {
    const a = await node('a')
    const b = await node('b')
    const reader = await client(b, 'dashboard')
    const s1 = await client(b, 'sensor-1')
    await subscribe(reader, '#', 1)
    const applied = changed(b)
    expect((await patch(a, '/api/v1/roles/consumer', { subscribe: ['private/#'] })).status).toBe(200)
    await applied
    expect(b.broker.registry.role('consumer')?.subscribe).toEqual(['private/#'])
    await publish(s1, 'sensors/sensor-1/t', 'revoked', { qos: 1 })
    await publish(s1, 'private/p', 'marker', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'marker')
    expect(reader.messages.map((m) => m.payload)).toEqual(['marker'])
  })

  it('deliver a client message to their own subscribers directly, and count what crosses to the other', async () => {
    const a = await node('a')
    const b = await node('b')
    const here = await client(a, 'dashboard')
    const there = await client(b, 'observer')
    const s1 = await client(a, 'sensor-1')
    await subscribe(here, 'sensors/#', 1)
    await subscribe(there, 'sensors/#', 1)
    for (let i = 0; i < 5; i++) await publish(s1, 'sensors/sensor-1/t', `m${i}`, { qos: 1 })
    await here.waitFor((m) => m.payload === 'm4')
    await there.waitFor((m) => m.payload === 'm4')
    // a marker through Redis from b: once it reached a, so did the echoes of m0…m4 published before it
    const s2 = await client(b, 'sensor-2')
    await publish(s2, 'sensors/sensor-2/t', 'marker', { qos: 1 })
    await here.waitFor((m) => m.payload === 'marker')
    // each once, in order, on both processes: the copy coming back from Redis is not delivered again at a
    expect(here.messages.map((m) => m.payload)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'marker'])
    await there.waitFor((m) => m.payload === 'marker')
    expect(there.messages.filter((m) => m.topic.startsWith('sensors/')).map((m) => m.payload)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'marker'])
    expect(a.broker.bus).toMatchObject({ sent: 5, received: 1 })
    expect(b.broker.bus).toMatchObject({ sent: 1, received: 5 })
    const metrics = (await get(a, '/metrics')).body as string
    // every worker's series, labelled by worker (control-cluster-view.test.ts)
    expect(metrics).toMatch(/^warden_cluster_bus_messages_total\{worker="a",direction="sent"\} 5$/m)
    expect(metrics).toMatch(/^warden_cluster_bus_messages_total\{worker="b",direction="received"\} 5$/m)
  })

  it('serialise concurrent changes from both brokers without losing one', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await Promise.all(Array.from({ length: 6 }, (_, i) => post(i % 2 === 0 ? a : b, '/api/v1/topics', { filter: `race/${i}`, owners: ['x'] })))
    const fresh = await node('c')
    const filters = fresh.broker.registry.state.topics.map((t) => t.filter)
    for (let i = 0; i < 6; i++) expect(filters).toContain(`race/${i}`)
    expect(fresh.broker.registry.state.revision).toBe(7)
    expect(await connackCode(fresh.url, { username: 'admin', password: PASSWORD })).toBe(0)
  })
})
