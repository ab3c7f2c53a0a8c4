// The consumer's persistent session against a real broker (bare aedes on loopback) and real MQTT.js publishers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { Aedes, type Client as AedesClient } from 'aedes'
import persistenceLevel from 'aedes-persistence-level'
import { Level } from 'level'
import { connectAsync, type MqttClient } from 'mqtt'
import { beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '@warden/common'
import { validateConsumerConfig, type ConsumerConfig } from '../../apps/consumer/src/config.js'
import { createConsumer, type Consumer, type ConsumerStats } from '../../apps/consumer/src/consumer.js'
import { useScope } from '../helpers/scope.js'

const logger = createLogger({ name: 'consumer-test', level: 'silent' })
const scope = useScope()

describe('consumer session', () => {
  let dir: string
  let broker: Aedes
  let server: Server
  let url: string
  /** closed after the test, newest first: consumers and publishers before the broker */
  const track = (x: { close: () => Promise<void> }): void => { scope.defer(() => x.close()) }

  async function startBroker ({ durable = false } = {}): Promise<void> {
    // aedes's in-memory store mishandles several QoS 2 messages awaiting PUBCOMP across a reconnect
    // (it resends some as new PUBLISHes), so the QoS 2 restart test uses the level store the Warden broker uses
    broker = await Aedes.createBroker(durable ? { persistence: persistenceLevel(new Level(join(dir, 'broker-db'))) } : {})
    scope.defer(() => new Promise<void>((resolve) => broker.close(() => resolve())))
    // the server listening at the end of the test (a test closes it and listens again)
    scope.defer(async () => { if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve())) })
    await listen()
  }

  async function listen (port = 0): Promise<void> {
    server = createServer({ noDelay: true }, broker.handle)
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    url = `mqtt://127.0.0.1:${address.port}`
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-consumer-session-'))
    scope.defer(() => rmSync(dir, { recursive: true, force: true }))
  })

  const configFor = (clientId: string, extra: Record<string, unknown> = {}): ConsumerConfig => validateConsumerConfig({
    broker: { url },
    clientId,
    subscriptions: ['devices/+/telemetry', 'devices/+/status'],
    qos: 1,
    output: { file: join(dir, 'messages.log'), stdout: false },
    summaryIntervalMs: 60_000,
    summaryFile: join(dir, 'summary.json'),
    stateFile: join(dir, 'qos2-state.json'),
    reconnect: { minMs: 20, maxMs: 200 },
    ...extra
  }, 'test')

  async function startConsumer (config: ConsumerConfig): Promise<Consumer> {
    const consumer = createConsumer(config, logger)
    track(consumer)
    await consumer.ready
    return consumer
  }

  async function startPublisher (clientId: string): Promise<MqttClient> {
    const client = await connectAsync(url, { clientId, clean: true, reconnectPeriod: 0 })
    track({ close: () => client.endAsync() })
    return client
  }

  const publishSeq = (client: MqttClient, seq: number, { run = 'run-1', device = 'device-01', qos = 1 as 0 | 1 | 2 } = {}) =>
    client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ deviceId: device, run, seq, ts: Date.now(), readings: { t: 21 } }), { qos })

  /** Resolves once the consumer's stats satisfy `done`, re-checking after every message it receives. */
  function until (consumer: Consumer, done: (s: ConsumerStats) => boolean, timeoutMs = 10_000): Promise<ConsumerStats> {
    return new Promise((resolve, reject) => {
      const guard = setTimeout(() => {
        consumer.events.off('message', check)
        reject(new Error(`condition not met; stats: ${JSON.stringify(consumer.stats())}`))
      }, timeoutMs)
      function check (): void {
        const s = consumer.stats()
        if (!done(s)) return
        clearTimeout(guard)
        consumer.events.off('message', check)
        resolve(s)
      }
      consumer.events.on('message', check)
      check()
    })
  }

  it.each([
    { qos: 1 as const, durable: false },
    { qos: 2 as const, durable: true }
  ])('receives every seq once across a restart with the same clientId, subscribing only once (QoS $qos)', async ({ qos, durable }) => {
    await startBroker({ durable })
    const subscribes: string[] = []
    broker.on('subscribe', (_subs, client: AedesClient) => subscribes.push(client.id))
    const first = await startConsumer(configFor('session-test', { qos }))
    expect(first.stats().sessionPresent).toBe(false)

    const publisher = await startPublisher('publisher-1')
    const total = 300
    let stopped: Promise<void> | undefined
    first.events.on('message', (record) => {
      // stop mid-stream, from inside a delivery, while the publisher keeps going
      if ((record.seq ?? 0) >= 100) stopped ??= first.close()
    })
    for (let seq = 1; seq <= total; seq++) await publishSeq(publisher, seq, { qos })
    await until(first, () => stopped !== undefined)
    await stopped
    expect(first.stats().unique).toBeLessThan(total)

    const second = await startConsumer(configFor('session-test', { qos }))
    expect(second.stats().sessionPresent).toBe(true)
    const stats = await until(second, (s) => s.unique >= total)
    expect(stats).toMatchObject({ unique: total, duplicates: 0, qos2Duplicates: 0, gaps: 0, resets: 0, stale: 0, malformed: 0, devices: 1 })
    expect(second.device('device-01')).toMatchObject({ highest: total, gaps: 0 })
    expect(subscribes).toEqual(['session-test'])

    await second.close()
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))
    expect(summary).toMatchObject({ unique: total, gaps: 0, duplicates: 0, qos, perDevice: { 'device-01': { highest: total, gaps: 0, missing: [] } } })
    const lines = readFileSync(join(dir, 'messages.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines).toHaveLength(total)
    expect(new Set(lines.map((l) => l.seq)).size).toBe(total)
    expect(lines.find((l) => l.seq === 1)).toMatchObject({
      topic: 'devices/device-01/telemetry', qos, retain: false, deviceId: 'device-01', payload: { run: 'run-1', seq: 1 }
    })
    expect(typeof lines[0].latencyMs).toBe('number')
  })

  it('counts duplicates, gaps and malformed payloads without stopping', async () => {
    await startBroker()
    const consumer = await startConsumer(configFor('counting-test'))
    const publisher = await startPublisher('publisher-2')
    for (const seq of [1, 2, 3, 3, 5]) await publishSeq(publisher, seq)
    await publisher.publishAsync('devices/device-01/telemetry', 'not json at all', { qos: 1 })
    const status = JSON.stringify({ deviceId: 'device-01', state: 'online', ts: Date.now() })
    await publisher.publishAsync('devices/device-01/status', status, { qos: 1, retain: true })
    await publishSeq(publisher, 4)
    const stats = await until(consumer, (s) => s.received >= 8)
    expect(stats).toMatchObject({ received: 8, telemetry: 6, unique: 5, duplicates: 1, gaps: 0, malformed: 1, devices: 1 })

    await publishSeq(publisher, 7)
    expect(await until(consumer, (s) => s.received >= 9)).toMatchObject({ gaps: 1 })
  })

  it('shows zero duplicates at QoS 2', async () => {
    await startBroker()
    const consumer = await startConsumer(configFor('qos2-test', { qos: 2 }))
    const publisher = await startPublisher('publisher-3')
    for (let seq = 1; seq <= 50; seq++) await publishSeq(publisher, seq, { qos: 2 })
    const stats = await until(consumer, (s) => s.unique >= 50)
    expect(stats).toMatchObject({ unique: 50, duplicates: 0, qos2Duplicates: 0, gaps: 0 })
  })

  it('reconnects after the broker drops it and gets what was queued meanwhile', async () => {
    await startBroker()
    const consumer = await startConsumer(configFor('reconnect-test'))
    const publisher = await startPublisher('publisher-4')
    await publishSeq(publisher, 1)
    await until(consumer, (s) => s.unique >= 1)

    const dropped = once(broker, 'clientDisconnect')
    const reconnected = once(consumer.events, 'connect')
    for (const c of Object.values((broker as unknown as { clients: Record<string, AedesClient> }).clients)) {
      if (c.id === 'reconnect-test') c.close()
    }
    await dropped
    for (let seq = 2; seq <= 20; seq++) await publishSeq(publisher, seq)
    expect(await reconnected).toEqual([true])
    expect(await until(consumer, (s) => s.unique >= 20)).toMatchObject({ unique: 20, gaps: 0 })
  })

  it('keeps retrying with back-off until the broker is up', async () => {
    await startBroker()
    const port = Number(new URL(url).port)
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const consumer = createConsumer(configFor('late-broker'), logger)
    track(consumer)
    const delays: number[] = []
    await new Promise<void>((resolve) => {
      consumer.events.on('disconnect', (attempt, retryInMs) => {
        delays.push(retryInMs)
        if (attempt === 3) resolve()
      })
    })
    // doubling from 20 ms with ±20% jitter
    expect(delays[1]).toBeGreaterThan(delays[0] as number)
    expect(delays[2]).toBeGreaterThanOrEqual(64)
    expect(consumer.stats().connected).toBe(false)
    await listen(port)
    await consumer.ready
    expect(consumer.stats()).toMatchObject({ connected: true, sessionPresent: false })
  })

  it('fails fast when the broker refuses its credentials', async () => {
    await startBroker()
    broker.authenticate = (_client, username, _password, done) => done(null, username === 'consumer')
    const consumer = createConsumer(configFor('bad-creds', { username: 'intruder', password: 'x' }), logger)
    track(consumer)
    await expect(consumer.ready).rejects.toThrow(/Not authorized|Bad username or password/)
  })
})
