// redis.waitForReplicas: an acknowledgement waits until the replicas have what it depends on (Redis WAIT behind
// a fence write), so a master that dies — and the replica Sentinel promotes in its place — loses no
// acknowledged message. Replication is made to lag on purpose by stopping the replica (SIGSTOP): what the
// master then takes is on the master alone.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../apps/broker/src/config/load-config.js'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { get } from '../helpers/http.js'
import { subscribe } from '../helpers/mqtt.js'
import { replicaCaughtUp, startRedis, startSentinels, type TestRedis, type TestSentinels } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

async function until (what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** publishes and settles with whether its flow completed (QoS 1 PUBACK, QoS 2 PUBCOMP; false: the connection closed first) */
function acknowledged (c: MqttClient, topic: string, payload: string, qos: 1 | 2 = 1): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.publish(topic, payload, { qos }, (err) => { c.off('close', onClose); resolve(err === undefined || err === null) })
  })
}

/** subscribes and settles with whether the SUBACK came */
function subacked (c: MqttClient, filter: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.subscribe(filter, { qos: 1 }, (err) => { c.off('close', onClose); resolve(err === undefined || err === null) })
  })
}

// Redis is started and stopped around the test's brokers (afterAll runs once the scope has closed them)
describe('a master and a replica', () => {
  let master: TestRedis
  let replica: TestRedis
  beforeAll(async () => {
    master = await startRedis()
    replica = await startRedis({ replicaOf: master.port })
    await replicaCaughtUp(master, replica)
  })
  afterAll(async () => {
    await replica?.stop()
    await master?.stop()
  })

  it('with waitForReplicas 1 PUBACK, PUBREC and SUBACK wait for the replica; the replica stopped, the client is closed unacknowledged', async () => {
    const redis = (wait: number): Record<string, unknown> => ({ url: master.url, ...(wait > 0 ? { waitForReplicas: wait, replicaTimeoutMs: 300 } : {}) })
    const [waits, plain] = await Promise.all([
      scope.startAnother({ config: { persistence: 'redis', redis: redis(1), brokerId: 'waits', log: { level: 'silent' } } }),
      scope.startAnother({ config: { persistence: 'redis', redis: redis(0), brokerId: 'plain', log: { level: 'silent' } } })
    ])
    const keep = { clientId: 'replica-keep', clean: false }
    const sub = await scope.client('dashboard', keep, plain)
    await subscribe(sub, 'sensors/#', 1)
    await sub.end()

    const onWaits = await scope.client('sensor-1', { reconnectPeriod: 0 }, waits)
    expect(await acknowledged(onWaits.client, 'sensors/sensor-1/t', 'm1')).toBe(true)
    replica.pause()
    const started = Date.now()
    // the queued copy is on the master only: not acknowledged, and the publisher is told by a closed connection
    expect(await acknowledged(onWaits.client, 'sensors/sensor-1/t', 'm2')).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    // QoS 2: no PUBREC for a packet only the master has; no SUBACK for a subscription only the master has
    const q2 = await scope.client('sensor-1', { reconnectPeriod: 0 }, waits)
    expect(await acknowledged(q2.client, 'sensors/sensor-1/t', 'q2', 2)).toBe(false)
    // MQTT 5: closed unacknowledged too, told "server busy" — not PUBACK 0x87 "not authorized" (the device would give
    // the message up) with the store's error text as its reason string
    const v5 = await scope.client('sensor-1', { reconnectPeriod: 0, protocolVersion: 5 }, waits)
    const answers: unknown[] = []
    v5.client.on('packetreceive', (p) => { if (p.cmd === 'puback' || p.cmd === 'disconnect') answers.push({ cmd: p.cmd, reasonCode: p.reasonCode }) })
    expect(await acknowledged(v5.client, 'sensors/sensor-1/t', 'v5', 1)).toBe(false)
    expect(answers).toEqual([{ cmd: 'disconnect', reasonCode: 0x89 }])
    const subscriber = await scope.client('dashboard', { reconnectPeriod: 0, clientId: 'replica-sub', clean: false }, waits)
    expect(await subacked(subscriber.client, 'sensors/sensor-1/#')).toBe(false)
    // the broker without the setting acknowledges what only the master has
    const onPlain = await scope.client('sensor-2', { reconnectPeriod: 0 }, plain)
    expect(await acknowledged(onPlain.client, 'sensors/sensor-2/t', 'm3')).toBe(true)
    replica.resume()
    await replicaCaughtUp(master, replica)
    const again = await scope.client('sensor-1', { reconnectPeriod: 0 }, waits)
    expect(await acknowledged(again.client, 'sensors/sensor-1/t', 'm4')).toBe(true)
    expect(await acknowledged(again.client, 'sensors/sensor-1/t', 'q2-again', 2)).toBe(true)

    const back = await scope.client('dashboard', keep, waits)
    for (const p of ['m1', 'm3', 'm4', 'q2-again']) await back.waitFor((m) => m.payload === p)
  })

  it('names the key of a bad setting', () => {
    const base = { persistence: 'redis', redis: { url: 'redis://127.0.0.1:1' } }
    expect(() => parseConfig({ ...base, redis: { ...base.redis, waitForReplicas: -1 } }, 'x.yaml')).toThrow(/redis\.waitForReplicas/)
    expect(() => parseConfig({ ...base, redis: { ...base.redis, replicaTimeoutMs: 'soon' } }, 'x.yaml')).toThrow(/redis\.replicaTimeoutMs/)
  })
})

describe('a master, a replica and three sentinels', () => {
  let dir: string
  let set: TestSentinels
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-sentinels-'))
    set = await startSentinels(dir, 3)
    await replicaCaughtUp(set.master, set.replica)
  })
  afterAll(async () => {
    await set?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('the master killed under QoS 1 load while its replica lags: no worker dies and no acknowledged message is lost', async () => {
    const node = (brokerId: string): Promise<TestBroker> => scope.startAnother({
      config: {
        persistence: 'redis',
        redis: { sentinels: set.ports.map((port) => ({ host: '127.0.0.1', port })), name: set.name, waitForReplicas: 1, replicaTimeoutMs: 300 },
        brokerId,
        log: { level: 'silent' }
      }
    })
    const [a, b] = await Promise.all([node('a'), node('b')])
    const keep = { clientId: 'failover-keep', clean: false }
    const sub = await scope.client('dashboard', keep, b)
    await subscribe(sub, 'sensors/#', 1)
    await sub.end()

    // two devices, one on each worker, publishing numbered QoS 1 messages as fast as they are acknowledged
    const acked = new Set<string>()
    const load = { running: true }
    const device = async (b: TestBroker, username: string): Promise<void> => {
      let n = 0
      while (load.running) {
        const c = mqtt.connect({ host: '127.0.0.1', port: b.port, username, password: PASSWORD, reconnectPeriod: 0, connectTimeout: 2000 })
        await new Promise<void>((resolve) => { c.once('connect', () => resolve()); c.once('close', () => resolve()) })
        while (load.running && c.connected) {
          const payload = `${username}-${n++}`
          if (await acknowledged(c, `sensors/${username}/seq`, payload)) acked.add(payload)
        }
        c.end(true)
        if (load.running) await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    const devices = [device(a, 'sensor-1'), device(b, 'sensor-2')]
    await until('acknowledged traffic', async () => acked.size >= 50)

    // replication stops passing; the devices go on publishing to the master alone for a while
    set.link.hold()
    await new Promise((resolve) => setTimeout(resolve, 700))
    await set.master.kill()
    await until('the sentinels promote the replica', async () => await set.masterPort() === set.replica.port, 30_000)
    await until('both workers ready again', async () =>
      (await get(a, '/readyz', { as: null })).status === 200 && (await get(b, '/readyz', { as: null })).status === 200, 30_000)
    load.running = false
    await Promise.all(devices)

    // the acknowledged messages are all queued on the new master
    const back = await scope.client('dashboard', keep, a)
    const wanted = [...acked]
    const missing = (): string[] => {
      const got = new Set(back.messages.map((m) => m.payload))
      return wanted.filter((p) => !got.has(p))
    }
    await until('every acknowledged message delivered', async () => missing().length === 0, 10_000).catch(() => {})
    expect(missing(), `lost of ${wanted.length} acknowledged`).toEqual([])
    // no worker died: both still answer
    for (const w of [a, b]) expect((await get(w, '/healthz', { as: null })).status).toBe(200)
  }, 120_000)
})
