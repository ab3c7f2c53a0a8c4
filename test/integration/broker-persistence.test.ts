// The embedded durable store: sessions, queued QoS 1/2 messages and retained messages survive a restart.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { startBroker, type TestBroker } from '../helpers/broker.js'
import { Redis } from 'ioredis'
import { connect, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { startRedis } from '../helpers/redis.js'

const brokers: TestBroker[] = []
const clients: TestClient[] = []
const dirs: string[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end()))
  for (const b of brokers.splice(0)) await b.stop()
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function start (dataDir?: string, port?: number): Promise<TestBroker> {
  const b = await startBroker({ ...(dataDir !== undefined ? { dataDir } : {}), ...(port !== undefined ? { port } : {}) })
  brokers.push(b)
  if (!dirs.includes(b.dataDir)) dirs.push(b.dataDir)
  return b
}

async function restart (b: TestBroker): Promise<TestBroker> {
  await b.stop()
  brokers.splice(brokers.indexOf(b), 1)
  return await start(b.dataDir, b.port)
}

it('delivers QoS 1 and 2 messages queued for an offline persistent consumer after a broker restart', async () => {
  let b = await start()
  const opts = { clientId: 'durable-dash', clean: false }
  const dash = await connect(b.url, 'dashboard', opts)
  expect(await subscribe(dash, 'sensors/#', 2)).toEqual([2])
  await dash.end()

  const s1 = await connect(b.url, 'sensor-1')
  await publish(s1, 'sensors/sensor-1/a', 'q1', { qos: 1 })
  await publish(s1, 'sensors/sensor-1/b', 'q2', { qos: 2 })
  await publish(s1, 'sensors/sensor-1/c', 'r', { qos: 1, retain: true })
  await s1.end()

  b = await restart(b)
  const back = await connect(b.url, 'dashboard', opts)
  clients.push(back)
  expect(back.client.connected).toBe(true)
  await back.waitFor((m) => m.payload === 'q1')
  await back.waitFor((m) => m.payload === 'q2')
  await back.waitFor((m) => m.payload === 'r')
  expect(back.messages.map((m) => m.payload).sort()).toEqual(['q1', 'q2', 'r'])

  // and the retained message is still there for a newcomer
  const obs = await connect(b.url, 'observer')
  clients.push(obs)
  await subscribe(obs, 'sensors/sensor-1/c', 1)
  const m = await obs.waitFor((m) => m.topic === 'sensors/sensor-1/c')
  expect(m).toMatchObject({ payload: 'r', retain: true })
})

it('keeps nothing of a refused publish in the store across a restart', async () => {
  let b = await start()
  const opts = { clientId: 'durable-obs', clean: false }
  const obs = await connect(b.url, 'observer', opts)
  await subscribe(obs, '#', 1)
  await obs.end()
  const intruder = await connect(b.url, 'sensor-2')
  await publish(intruder, 'sensors/sensor-1/x', 'forged', { qos: 1, retain: true })
  await publish(intruder, 'sensors/sensor-2/x', 'marker', { qos: 1 })
  await intruder.end()
  b = await restart(b)
  const back = await connect(b.url, 'observer', opts)
  clients.push(back)
  await back.waitFor((m) => m.payload === 'marker')
  expect(back.messages.map((m) => m.payload)).toEqual(['marker'])
})

it('runs in memory when the config asks, and then keeps nothing across a restart', async () => {
  const b = await startBroker({ config: { persistence: 'memory' } })
  try {
    const s1 = await connect(b.url, 'sensor-1')
    await publish(s1, 'sensors/sensor-1/c', 'r', { qos: 1, retain: true })
    await s1.end()
    expect(b.broker.aedes).toBeDefined()
  } finally {
    await b.close()
  }
})

it('closes what it opened when start-up fails: the store, and every Redis connection of cluster mode', async () => {
  // the MQTT port is taken: listening fails after the registry, the store, the broker, the consumer
  // groups' link and session expiry are open
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  const taken = (blocker.address() as AddressInfo).port
  const dataDir = await mkdtemp(join(tmpdir(), 'warden-test-'))
  dirs.push(dataDir)
  const redis = await startRedis()
  const probe = new Redis(redis.url)
  const connections = async (): Promise<number> => Number(/connected_clients:(\d+)/.exec(await probe.info('clients'))?.[1])
  try {
    const idle = await connections()
    await expect(startBroker({ dataDir, port: taken, config: { persistence: 'redis', redis: { url: redis.url } } })).rejects.toThrow(/\(mqtt.port\): address in use/)
    // the server counts a connection until it has read the close; the old code left one open for good
    await waitUntil(async () => (await connections()) === idle ? true : undefined, 'the failed start\'s Redis connections to close', 5000)
    // LevelDB holds a lock on its directory while open: a second open fails unless the failed start closed it
    await expect(startBroker({ dataDir, port: taken })).rejects.toThrow(/\(mqtt.port\): address in use/)
    const b = await start(dataDir)
    expect(b.port).toBeGreaterThan(0)
  } finally {
    probe.disconnect()
    await redis.stop()
    await new Promise<void>((resolve) => blocker.close(() => resolve()))
  }
})
