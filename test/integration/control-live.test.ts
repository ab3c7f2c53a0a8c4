// Registry changes reach connected clients at their next packet: revoked owners, changed readers, removed
// accounts, payload schemas. Real broker, real MQTT.js clients over the same connections.
import { beforeEach, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { del, patch, post, topicPath } from '../helpers/http.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let tb: TestBroker
const client = scope.client
const auditOf = (c: TestClient, pred: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
  c.waitFor((m) => m.topic.startsWith('$SYS/warden/audit/') && pred(JSON.parse(m.payload) as Record<string, unknown>), 'audit event')
    .then((m) => JSON.parse(m.payload) as Record<string, unknown>)

describe('ownership changes', () => {
  beforeEach(async () => { tb = await scope.start() })

  it('denies a revoked owner\'s next publish over the same connection, and the new owner is allowed', async () => {
    const observer = await client('observer')
    await subscribe(observer, ['sensors/#', '$SYS/warden/audit/#'], 1)
    const s1 = await client('sensor-1')
    const s2 = await client('sensor-2')
    await publish(s1, 'sensors/sensor-1/temp', 'before', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'before')
    // hand the subtree to sensor-2
    expect((await patch(tb, topicPath('sensors/sensor-1/#'), { owners: ['sensor-2'] })).status).toBe(200)
    await publish(s1, 'sensors/sensor-1/temp', 'after', { qos: 1 })
    const denial = await auditOf(observer, (e) => e.topic === 'sensors/sensor-1/temp')
    expect(denial).toMatchObject({ kind: 'publish', reason: 'not-owner', username: 'sensor-1', filter: 'sensors/sensor-1/#' })
    await publish(s2, 'sensors/sensor-1/temp', 'new-owner', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'new-owner')
    expect(observer.messages.filter((m) => !m.topic.startsWith('$SYS')).map((m) => m.payload)).toEqual(['before', 'new-owner'])
    expect(s1.client.connected).toBe(true)
  })

  it('denies publishing under a deleted registration (unregistered) and allows it under a new one', async () => {
    const observer = await client('observer')
    await subscribe(observer, ['#', '$SYS/warden/audit/#'], 1)
    const s1 = await client('sensor-1')
    await publish(s1, 'private/a', 'one', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'one')
    expect((await del(tb, topicPath('private/#'))).status).toBe(204)
    await publish(s1, 'private/a', 'two', { qos: 1 })
    expect(await auditOf(observer, (e) => e.topic === 'private/a')).toMatchObject({ reason: 'unregistered' })
    expect((await post(tb, '/api/v1/topics', { filter: 'private/a', owners: ['sensor-1'] })).status).toBe(201)
    await publish(s1, 'private/a', 'three', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'three')
    expect(observer.messages.filter((m) => m.topic === 'private/a').map((m) => m.payload)).toEqual(['one', 'three'])
  })
})

describe('account changes', () => {
  beforeEach(async () => { tb = await scope.start() })

  it('stops delivering to a reader whose roles no longer grant the topic', async () => {
    const reader = await client('dashboard')
    await subscribe(reader, 'sensors/#', 1)
    const s1 = await client('sensor-1')
    const admin = await client('admin')
    await publish(s1, 'sensors/sensor-1/t', 'granted', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'granted')
    // consumer → producer: reads devices/dashboard/cmd/# only
    expect((await patch(tb, '/api/v1/users/dashboard', { roles: ['producer'] })).status).toBe(200)
    expect(await subscribe(reader, 'devices/dashboard/cmd/#', 1)).toEqual([1])
    await publish(s1, 'sensors/sensor-1/t', 'revoked', { qos: 1 })
    await publish(admin, 'devices/dashboard/cmd/go', 'marker', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'marker')
    expect(reader.messages.map((m) => m.payload)).toEqual(['granted', 'marker'])
    expect(reader.client.connected).toBe(true)
  })

  it('starts delivering to a reader who was given a role', async () => {
    const reader = await client('sensor-2')
    expect(await subscribe(reader, 'sensors/#', 1)).toEqual([128])
    await patch(tb, '/api/v1/users/sensor-2', { roles: ['producer', 'consumer'] })
    expect(await subscribe(reader, 'sensors/#', 1)).toEqual([1])
    const s1 = await client('sensor-1')
    await publish(s1, 'sensors/sensor-1/t', 'now-readable', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'now-readable')
  })

  it('disconnects a deleted user, whose will is not published, and refuses its next login', async () => {
    const observer = await client('observer')
    await subscribe(observer, ['sensors/#'], 1)
    const victim = await client('sensor-2', { will: { topic: 'sensors/sensor-2/status', payload: Buffer.from('gone'), qos: 1, retain: false } })
    const closed = victim.closed()
    expect((await del(tb, '/api/v1/users/sensor-2')).status).toBe(200)
    await closed
    expect(await connackCode(tb.url, { username: 'sensor-2', password: PASSWORD })).toBe(4)
    const s1 = await client('sensor-1')
    await publish(s1, 'sensors/sensor-1/t', 'marker', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'marker')
    expect(observer.messages.map((m) => m.payload)).toEqual(['marker'])
  })

  it('disconnects the live connections of an account whose password changes; the new password logs in', async () => {
    const observer = await client('observer')
    await subscribe(observer, ['sensors/#'], 1)
    const held = await client('sensor-2', { will: { topic: 'sensors/sensor-2/status', payload: Buffer.from('gone'), qos: 1, retain: false } })
    const other = await client('sensor-1')
    const closed = held.closed()
    expect((await patch(tb, '/api/v1/users/sensor-2', { password: 'sensor-2-new' })).status).toBe(200)
    await closed
    expect(await connackCode(tb.url, { username: 'sensor-2', password: PASSWORD })).toBe(4)
    const renewed = await client('sensor-2', { password: 'sensor-2-new' })
    await publish(renewed, 'sensors/sensor-2/t', 'renewed', { qos: 1 })
    // another account's connection is untouched; the old connection's will is not published
    await publish(other, 'sensors/sensor-1/t', 'marker', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'marker')
    expect(observer.messages.map((m) => m.payload)).toEqual(['renewed', 'marker'])
  })

  it('ends a login that raced a password change: verified before the change, registered after it', async () => {
    // hold the login between its password check and its registration (aedes reads the session there)
    const store = (tb.broker.aedes as unknown as { persistence: unknown }).persistence as { subscriptionsByClient: (c: { id: string }) => Promise<unknown[]> }
    const fetch = store.subscriptionsByClient.bind(store)
    let release = (): void => {}
    const held = new Promise<void>((resolve) => { release = resolve })
    let reached = (): void => {}
    const atFetch = new Promise<void>((resolve) => { reached = resolve })
    store.subscriptionsByClient = async (c) => { if (c.id === 'racer') { reached(); await held } return await fetch(c) }
    const raw = await rawClient(tb.port)
    try {
      raw.send(connectPacket('sensor-2', 'racer', { clean: false }))
      await atFetch
      expect((await patch(tb, '/api/v1/users/sensor-2', { password: 'sensor-2-new' })).status).toBe(200)
      release()
      await raw.closed()
    } finally {
      raw.destroy()
    }
  })

  it('keeps the connections of an account whose roles change', async () => {
    const s2 = await client('sensor-2')
    expect((await patch(tb, '/api/v1/users/sensor-2', { roles: ['producer', 'consumer'] })).status).toBe(200)
    expect(await subscribe(s2, 'sensors/#', 1)).toEqual([1])
    expect(s2.client.connected).toBe(true)
  })

  it('admits a user created at run time with the roles given', async () => {
    await post(tb, '/api/v1/users', { username: 'sensor-3', password: 'sensor-3-secret', roles: ['producer'] })
    await post(tb, '/api/v1/topics', { filter: 'sensors/sensor-3/#', owners: ['sensor-3'] })
    const observer = await client('observer')
    await subscribe(observer, 'sensors/#', 1)
    const s3 = await client('sensor-3', { password: 'sensor-3-secret' })
    await publish(s3, 'sensors/sensor-3/t', 'hello', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'hello')
  })
})

describe('role changes', () => {
  beforeEach(async () => { tb = await scope.start() })

  it('reads with a role\'s new grants from the next message on, for every connected holder', async () => {
    const reader = await client('dashboard')
    expect(await subscribe(reader, '#', 1)).toEqual([1])
    const s1 = await client('sensor-1')
    const admin = await client('admin')
    await publish(s1, 'sensors/sensor-1/t', 'granted', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'granted')
    // consumer: sensors/# → private/# only
    const r = await patch(tb, '/api/v1/roles/consumer', { subscribe: ['private/#'] })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ name: 'consumer', subscribe: ['private/#'], builtin: true, users: 1 })
    await publish(s1, 'sensors/sensor-1/t', 'revoked', { qos: 1 })
    await publish(s1, 'private/p', 'newly-granted', { qos: 1 })
    await publish(admin, 'devices/x/cmd/y', 'never-granted', { qos: 1 })
    await publish(s1, 'private/q', 'marker', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'marker')
    expect(reader.messages.map((m) => m.payload)).toEqual(['granted', 'newly-granted', 'marker'])
    expect(reader.client.connected).toBe(true)
  })

  it('lets a role defined at run time be given to an account, and refuses to delete it while held', async () => {
    expect((await post(tb, '/api/v1/roles', { name: 'auditor', subscribe: ['sensors/+/t'] })).status).toBe(201)
    expect((await patch(tb, '/api/v1/users/sensor-2', { roles: ['auditor'] })).status).toBe(200)
    const reader = await client('sensor-2')
    expect(await subscribe(reader, ['sensors/#', 'private/#'], 1)).toEqual([1, 128])
    const s1 = await client('sensor-1')
    await publish(s1, 'sensors/sensor-1/other', 'not-granted', { qos: 1 })
    await publish(s1, 'sensors/sensor-1/t', 'granted', { qos: 1 })
    await reader.waitFor((m) => m.payload === 'granted')
    expect(reader.messages.map((m) => m.payload)).toEqual(['granted'])
    const refused = await del(tb, '/api/v1/roles/auditor')
    expect(refused.status).toBe(409)
    expect(refused.body.error.message).toMatch(/held by sensor-2/)
  })
})

describe('payload schemas', () => {
  const schema = { type: 'object', required: ['temp'], properties: { temp: { type: 'number' } } }

  it('drops a payload that fails the schema, audits why, and lets valid ones through', async () => {
    tb = await scope.start()
    await post(tb, '/api/v1/topics', { filter: 'sensors/sensor-1/temp', owners: ['sensor-1'], schema })
    const observer = await client('observer')
    await subscribe(observer, ['sensors/#', '$SYS/warden/audit/#'], 2)
    const s1 = await client('sensor-1')
    for (const qos of [0, 1, 2] as const) await publish(s1, 'sensors/sensor-1/temp', `{"temp":"hot-${qos}"}`, { qos, retain: true })
    await publish(s1, 'sensors/sensor-1/temp', 'not json', { qos: 1 })
    await publish(s1, 'sensors/sensor-1/temp', '{"temp":21.5}', { qos: 1 })
    await observer.waitFor((m) => m.payload === '{"temp":21.5}')
    expect(observer.messages.filter((m) => !m.topic.startsWith('$SYS')).map((m) => m.payload)).toEqual(['{"temp":21.5}'])
    const violation = await auditOf(observer, (e) => e.reason === 'schema-violation')
    expect(violation).toMatchObject({
      kind: 'publish', username: 'sensor-1', topic: 'sensors/sensor-1/temp', filter: 'sensors/sensor-1/temp', detail: 'payload temp: must be number'
    })
    expect(await auditOf(observer, (e) => e.detail === 'payload is not JSON')).toMatchObject({ reason: 'schema-violation' })
    expect(tb.broker.audit.counts.get('publish:schema-violation')).toBe(4)
    expect(s1.client.connected).toBe(true)
    // no violating message was retained
    const late = await client('observer')
    await subscribe(late, 'sensors/sensor-1/temp', 1)
    await publish(s1, 'sensors/sensor-1/temp', '{"temp":1}', { qos: 1 })
    await late.waitFor((m) => m.payload === '{"temp":1}')
    expect(late.messages.map((m) => m.payload)).toEqual(['{"temp":1}'])
    // other topics of the owner are not checked
    await publish(s1, 'sensors/sensor-1/raw', 'anything', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'anything')
  })

  it('closes the connection in disconnect mode, and refuses a will that fails the schema', async () => {
    tb = await scope.start({ config: { deniedPublish: 'disconnect', topics: [{ filter: 'sensors/sensor-1/#', owners: ['sensor-1'], schema }] } })
    const will = (payload: string): { topic: string, payload: Buffer, qos: 0, retain: false } =>
      ({ topic: 'sensors/sensor-1/status', payload: Buffer.from(payload), qos: 0, retain: false })
    expect(await connackCode(tb.url, { username: 'sensor-1', password: PASSWORD, will: will('offline') })).toBe(5)
    expect(await connackCode(tb.url, { username: 'sensor-1', password: PASSWORD, will: will('{"temp":0}') })).toBe(0)
    const s1 = await client('sensor-1')
    const closed = s1.closed()
    s1.client.publish('sensors/sensor-1/t', '[]', { qos: 1 })
    await closed
  })

  it('checks the schema changed at run time from the next publish on', async () => {
    tb = await scope.start()
    const observer = await client('observer')
    await subscribe(observer, 'sensors/#', 1)
    const s1 = await client('sensor-1')
    await publish(s1, 'sensors/sensor-1/t', 'free', { qos: 1 })
    await patch(tb, topicPath('sensors/sensor-1/#'), { schema })
    await publish(s1, 'sensors/sensor-1/t', 'not-any-more', { qos: 1 })
    await patch(tb, topicPath('sensors/sensor-1/#'), { schema: null })
    await publish(s1, 'sensors/sensor-1/t', 'free-again', { qos: 1 })
    await observer.waitFor((m) => m.payload === 'free-again')
    expect(observer.messages.map((m) => m.payload)).toEqual(['free', 'free-again'])
  })
})
