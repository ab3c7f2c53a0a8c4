// Connection limits, each refusal audited: total connections, connection rate per source address,
// connections per user, failed-login throttling, packet size. (Login defences against abuse:
// hardening-login-*.test.ts.)
import { expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { connectPacket, rawClient, rawSession, type RawClient } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const start = (limits: Record<string, unknown>): Promise<TestBroker> => scope.start({ config: { limits } })
const client = (username: string, opts = {}): Promise<TestClient> => scope.client(username, opts)
const raw = async (opts: { localAddress?: string } = {}): Promise<RawClient> => scope.track(await rawClient(scope.tb.port, opts))
const count = scope.count

it('maxConnections: refuses sockets past the limit (before CONNECT), and admits again once one closes', async () => {
  const b = await start({ maxConnections: 3 })
  const idle = [await raw(), await raw(), await raw()]
  await waitUntil(() => b.broker.limits.stats.connections === 3 ? true : undefined, 'three sockets counted')
  const fourth = await raw()
  await fourth.closed()
  expect(count('connection:max-connections')).toBe(1)
  expect(scope.events.find((e) => e.reason === 'max-connections')).toMatchObject({ kind: 'connection', address: '127.0.0.1', detail: '3 connections open' })
  idle[0]?.destroy()
  await waitUntil(() => b.broker.limits.stats.connections === 2 ? true : undefined, 'a socket released')
  expect(await connackCode(b.url, { username: 'sensor-1', password: PASSWORD })).toBe(0)
})

it('connectionRate: refuses an address past its burst, while another address connects', async () => {
  const b = await start({ connectionRate: { perSecond: 1, burst: 2 } })
  await raw()
  await raw()
  const third = await raw()
  await third.closed()
  expect(count('connection:connection-rate')).toBe(1)
  expect(scope.events[0]).toMatchObject({ kind: 'connection', reason: 'connection-rate', address: '127.0.0.1' })
  const other = await raw({ localAddress: '127.0.0.2' })
  other.send(connectPacket('sensor-1', 'from-other-address'))
  expect(await other.next('connack')).toMatchObject({ returnCode: 0 })
  expect(b.broker.limits.stats.connections).toBeGreaterThanOrEqual(3)
})

it('maxConnectionsPerUser: CONNACK 3 past the limit; a reconnect under the same client id is a takeover, not one more', async () => {
  const b = await start({ maxConnectionsPerUser: 2 })
  const a = await client('sensor-1', { clientId: 'a' })
  await client('sensor-1', { clientId: 'b' })
  expect(await connackCode(b.url, { username: 'sensor-1', password: PASSWORD, clientId: 'c' })).toBe(3)
  expect(scope.events.at(-1)).toMatchObject({ kind: 'connect', reason: 'max-user-connections', username: 'sensor-1', clientId: 'c' })
  // other users are not affected, and taking over 'b' is allowed
  expect(await connackCode(b.url, { username: 'sensor-2', password: PASSWORD, clientId: 'd' })).toBe(0)
  const b2 = await client('sensor-1', { clientId: 'b' })
  expect(b2.client.connected).toBe(true)
  await a.end()
  const login = async (): Promise<true | undefined> =>
    await connackCode(b.url, { username: 'sensor-1', password: PASSWORD, clientId: 'c' }) === 0 ? true : undefined
  await waitUntil(login, 'a slot freed', 5000, 20)
  expect(count('connect:max-user-connections')).toBeGreaterThanOrEqual(1)
})

it('login throttling: a growing delay before each refusal, then a lockout of the (username, address) pair (CONNACK 3) that ends', async () => {
  const b = await start({ login: { maxFailuresPerUserAddress: 3, maxFailuresPerAddress: 0, lockoutMs: 400, maxLockoutMs: 400, delayMs: 60, maxDelayMs: 1000 } })
  const took: number[] = []
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now()
    expect(await connackCode(b.url, { username: 'sensor-1', password: 'guess' })).toBe(4)
    took.push(Date.now() - t0)
  }
  expect(took[0]).toBeGreaterThanOrEqual(55)
  expect(took[1]).toBeGreaterThanOrEqual(115)
  expect(took[2]).toBeGreaterThanOrEqual(235)
  // locked: even the right password is refused from this address, without a delay; other users are not,
  // nor is this user from another address
  expect(await connackCode(b.url, { username: 'sensor-1', password: PASSWORD })).toBe(3)
  expect(await connackCode(b.url, { username: 'sensor-2', password: PASSWORD })).toBe(0)
  const other = await raw({ localAddress: '127.0.0.2' })
  other.send(connectPacket('sensor-1', 'from-elsewhere'))
  expect(await other.next('connack')).toMatchObject({ returnCode: 0 })
  expect(scope.events.find((e) => e.reason === 'login-throttled'))
    .toMatchObject({ kind: 'connect', username: 'sensor-1', detail: expect.stringMatching(/too many failed logins/) as unknown })
  await waitUntil(async () => await connackCode(b.url, { username: 'sensor-1', password: PASSWORD }) === 0 ? true : undefined, 'the lockout to end', 5000, 50)
  expect(count('connect:bad-credentials')).toBe(3)
})

it('login throttling: locks a source address that tries many usernames; other addresses still log in', async () => {
  const b = await start({ login: { maxFailuresPerUserAddress: 0, maxFailuresPerAddress: 3, lockoutMs: 60000, delayMs: 0 } })
  for (const u of ['nobody-1', 'nobody-2', 'sensor-2']) expect(await connackCode(b.url, { username: u, password: 'guess' })).toBe(4)
  expect(await connackCode(b.url, { username: 'sensor-1', password: PASSWORD })).toBe(3)
  const other = await raw({ localAddress: '127.0.0.2' })
  other.send(connectPacket('sensor-1', 'elsewhere'))
  expect(await other.next('connack')).toMatchObject({ returnCode: 0 })
  expect(count('connect:login-throttled')).toBe(1)
})

it('maxPacketBytes: closes a connection announcing a larger packet before its body arrives', async () => {
  const b = await start({ maxPacketBytes: 1024 })
  const r = await rawSession(b.port, 'sensor-1', 'big')
  scope.track(r)
  // PUBLISH announcing 100 MB: only the fixed header is sent
  r.send(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x30]))
  await r.closed()
  const s1 = await client('sensor-1', { clientId: 'mqttjs' })
  const obs = await client('observer')
  await subscribe(obs, 'sensors/#')
  s1.client.publish('sensors/sensor-1/big', Buffer.alloc(2000))
  await s1.closed()
  await publish(obs, 'sensors/sensor-1/after', 'still here')
  expect(count('connection:packet-too-large')).toBe(2)
  expect(scope.events[0]).toMatchObject({
    kind: 'connection', reason: 'packet-too-large', clientId: 'big', username: 'sensor-1', detail: 'packet of 100663301 bytes, limit 1024'
  })
})
