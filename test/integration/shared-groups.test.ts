// Consumer groups ($share/{group}/{filter}) on one broker process: each message to one member of each
// group, balanced, read rights as for the plain filter, redelivery when a member dies, queueing offline.
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { connectStalled, payloads, publishStream, receivedTogether, tally } from '../helpers/groups.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

async function start (config: Record<string, unknown> = {}): Promise<TestBroker> {
  return await scope.start({ config: { persistence: 'memory', ...config } })
}

async function client (b: TestBroker, username: string, opts: Record<string, unknown> = {}): Promise<TestClient> {
  return await scope.client(username, opts, b)
}

async function members (b: TestBroker, n: number, filter: string, qos: 0 | 1 | 2, prefix = 'm'): Promise<TestClient[]> {
  const out: TestClient[] = []
  for (let i = 0; i < n; i++) {
    const m = await client(b, 'dashboard', { clientId: `${prefix}-${i}` })
    expect(await subscribe(m, filter, qos)).toEqual([qos])
    out.push(m)
  }
  return out
}

describe('a consumer group on one process', () => {
  for (const qos of [2, 1] as const) {
    it(`gives each QoS ${qos} message to one member, balanced, and every message to an ordinary subscriber`, async () => {
      const b = await start()
      const group = await members(b, 3, '$share/workers/sensors/#', qos)
      const plain = await client(b, 'observer')
      await subscribe(plain, 'sensors/#', qos)
      const pub = await client(b, 'sensor-1')
      const n = qos === 2 ? 2000 : 3000
      await publishStream(pub, 'sensors/sensor-1/t', n, qos)
      await receivedTogether(group, n)
      await receivedTogether([plain], n)

      const t = tally(group, payloads(n))
      expect(t.missing).toEqual([])
      // exactly once at QoS 2; at QoS 1 at least once, and duplicates are counted (none expected here)
      expect(t.duplicates).toBe(0)
      expect(group.every((m) => m.messages.every((x) => x.qos === qos))).toBe(true)
      for (const m of group) expect(Math.abs(m.messages.length - n / 3)).toBeLessThanOrEqual(n / 3 * 0.1)
      expect(tally([plain], payloads(n)).missing).toEqual([])

      const [stats] = await b.broker.shared.stats()
      expect(stats).toMatchObject({ group: 'workers', filter: 'sensors/#', delivered: n, dropped: 0 })
      expect(stats?.members.map((m) => m.delivered).sort()).toEqual(group.map((m) => m.messages.length).sort())
    })
  }

  it('delivers at min(published QoS, the member\'s granted QoS)', async () => {
    const b = await start()
    const [m] = await members(b, 1, '$share/g/sensors/#', 1)
    const pub = await client(b, 'sensor-1')
    await publish(pub, 'sensors/sensor-1/a', 'two', { qos: 2 })
    await publish(pub, 'sensors/sensor-1/a', 'zero', { qos: 0 })
    expect((await m!.waitFor((x) => x.payload === 'two')).qos).toBe(1)
    expect((await m!.waitFor((x) => x.payload === 'zero')).qos).toBe(0)
  })

  it('gives two groups on the same filter the full stream each', async () => {
    const b = await start()
    const a = await members(b, 2, '$share/a/sensors/#', 1, 'a')
    const z = await members(b, 2, '$share/z/sensors/#', 1, 'z')
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 400, 1)
    await receivedTogether(a, 400)
    await receivedTogether(z, 400)
    for (const g of [a, z]) {
      const t = tally(g, payloads(400))
      expect(t.missing).toEqual([])
      expect(t.duplicates).toBe(0)
    }
  })

  for (const qos of [1, 2] as const) {
    it(`hands the QoS ${qos} messages a killed member had not acknowledged to another member`, async () => {
      const b = await start()
      const stalled = await connectStalled(b.port, 'dashboard', 'stalls', '$share/g/sensors/#', qos)
      const [healthy] = await members(b, 1, '$share/g/sensors/#', qos)
      const pub = await client(b, 'sensor-1')
      const n = 200
      await publishStream(pub, 'sensors/sensor-1/t', n, qos)
      // round robin: half of them went to the member that acknowledges nothing
      await stalled.holding(n / 2)
      expect(healthy!.messages.length).toBeLessThan(n)
      await stalled.kill()
      await receivedTogether([healthy!], n)
      const t = tally([healthy!], payloads(n))
      expect(t.missing).toEqual([])
      expect(t.duplicates).toBe(0)
      const [stats] = await b.broker.shared.stats()
      expect(stats?.redelivered).toBe(n / 2)
    })
  }

  it('takes a killed persistent member\'s unacknowledged QoS 2 messages out of its session: it does not get them again', async () => {
    const b = await start()
    const stalled = await connectStalled(b.port, 'dashboard', 'durable-stalls', '$share/g/sensors/#', 2, false)
    const [healthy] = await members(b, 1, '$share/g/sensors/#', 2)
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 100, 2)
    await stalled.holding(50)
    await stalled.kill()
    await receivedTogether([healthy!], 100)
    expect(tally([healthy!], payloads(100))).toMatchObject({ missing: [], duplicates: 0 })
    await healthy!.end()
    // the member comes back to its session: nothing of the first 100, only what is new
    const ready = new Promise<void>((resolve) => b.broker.aedes.once('clientReady', () => resolve()))
    const back = await client(b, 'dashboard', { clientId: 'durable-stalls', clean: false })
    await ready
    await publish(pub, 'sensors/sensor-1/t', 'after', { qos: 2 })
    await back.waitFor((m) => m.payload === 'after')
    expect(back.messages.map((m) => m.payload)).toEqual(['after'])
  })

  it('lets a persistent member\'s unacknowledged messages move with its session when it reconnects elsewhere (takeover)', async () => {
    const b = await start()
    const stalled = await connectStalled(b.port, 'dashboard', 'durable-takeover', '$share/g/sensors/#', 2, false)
    const [healthy] = await members(b, 1, '$share/g/sensors/#', 2)
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 100, 2)
    await stalled.holding(50)
    // the same client id connects again while the stalled connection is still up: it takes the session over
    const next = await client(b, 'dashboard', { clientId: 'durable-takeover', clean: false })
    await receivedTogether([healthy!, next], 100)
    expect(tally([healthy!, next], payloads(100))).toMatchObject({ missing: [], duplicates: 0 })
    expect(next.messages).toHaveLength(50)
    const [stats] = await b.broker.shared.stats()
    expect(stats?.redelivered).toBe(0)
  })

  it('sends no retained messages to a new member, and a member that also subscribes plainly gets both copies', async () => {
    const b = await start()
    const pub = await client(b, 'sensor-1')
    await publish(pub, 'sensors/sensor-1/r', 'retained', { qos: 1, retain: true })
    const m = await client(b, 'dashboard', { clientId: 'both' })
    expect(await subscribe(m, ['$share/g/sensors/#', 'sensors/sensor-1/#'], 1)).toEqual([1, 1])
    await m.waitFor((x) => x.payload === 'retained')
    await publish(pub, 'sensors/sensor-1/t', 'live', { qos: 1 })
    await receivedTogether([m], 3)
    expect(m.messages.map((x) => x.payload).sort()).toEqual(['live', 'live', 'retained'])
    // the retained one came through the plain subscription: the group delivered only the live message
    const [stats] = await b.broker.shared.stats()
    expect(stats?.delivered).toBe(1)
  })

  it('checks read rights on the filter at SUBSCRIBE and on every message, and audits refusals', async () => {
    const b = await start()
    const dash = await client(b, 'dashboard', { clientId: 'dash' })
    expect(await subscribe(dash, '$share/g/private/#', 1)).toEqual([128])
    for (const bad of ['$share//sensors/#', '$share/g', '$share/g/', '$share/+/sensors/#', '$share/g/$share/h/x']) {
      expect(await subscribe(dash, bad, 1)).toEqual([128])
    }
    expect(b.broker.audit.counts.get('subscribe:not-granted')).toBe(1)
    expect(b.broker.audit.counts.get('subscribe:bad-shared-filter')).toBe(5)
    // '#' intersects what a consumer may read: granted, but only readable messages reach it
    expect(await subscribe(dash, '$share/all/#', 1)).toEqual([1])
    const obs = await client(b, 'observer', { clientId: 'obs' })
    expect(await subscribe(obs, '$share/all/#', 1)).toEqual([1])
    const pub = await client(b, 'sensor-1')
    for (let i = 0; i < 20; i++) {
      await publish(pub, `private/${i}`, `p${i}`, { qos: 1 })
      await publish(pub, `sensors/sensor-1/${i}`, `s${i}`, { qos: 1 })
    }
    await receivedTogether([dash, obs], 40)
    expect(dash.messages.filter((m) => m.topic.startsWith('private/'))).toEqual([])
    expect(obs.messages.filter((m) => m.topic.startsWith('private/'))).toHaveLength(20)
    expect(tally([dash, obs], [...payloads(20, 'p'), ...payloads(20, 's')])).toMatchObject({ missing: [], duplicates: 0 })
  })

  it('keeps QoS 1 messages while its only (persistent) member is away, up to maxQueued', async () => {
    const b = await start({ sharedSubscriptions: { maxQueued: 30 } })
    const opts = { clientId: 'durable-worker', clean: false }
    const m = await client(b, 'dashboard', opts)
    await subscribe(m, '$share/g/sensors/#', 1)
    await m.end()
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 50, 1)
    const [stats] = await b.broker.shared.stats()
    expect(stats).toMatchObject({ queued: 30, dropped: 20, waiting: 30 })
    expect(stats?.members).toMatchObject([{ clientId: 'durable-worker', connected: false, persistent: true }])
    expect(b.broker.audit.counts.get('delivery:queue-full')).toBe(20)
    // its session was restored (no SUBSCRIBE): still a member, and it gets the oldest 30
    const back = await client(b, 'dashboard', opts)
    await receivedTogether([back], 30)
    expect(tally([back], payloads(30))).toMatchObject({ missing: [], duplicates: 0 })
    await publish(pub, 'sensors/sensor-1/t', 'live', { qos: 1 })
    await back.waitFor((x) => x.payload === 'live')
  })

  it('drops messages for a group whose members are all clean sessions and gone, and forgets the group', async () => {
    const b = await start()
    const [m] = await members(b, 1, '$share/g/sensors/#', 1)
    await m!.end()
    const pub = await client(b, 'sensor-1')
    await publish(pub, 'sensors/sensor-1/t', 'x', { qos: 1 })
    expect(await b.broker.shared.stats()).toEqual([])
  })

  it('lets a member leave with UNSUBSCRIBE', async () => {
    const b = await start()
    const [a, z] = await members(b, 2, '$share/g/sensors/#', 1)
    await new Promise<void>((resolve, reject) => a!.client.unsubscribe('$share/g/sensors/#', (err) => err ? reject(err) : resolve()))
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 20, 1)
    await receivedTogether([z!], 20)
    expect(a!.messages).toEqual([])
  })
})

describe('a consumer group across a broker restart (LevelDB)', () => {
  it('gives a connected persistent member each QoS 2 message once, and its acknowledgements end them', async () => {
    const b = await scope.start({ config: { persistence: 'level' } })
    const opts = { clientId: 'durable-live', clean: false }
    const m = await client(b, 'dashboard', opts)
    await subscribe(m, '$share/g/sensors/#', 2)
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 200, 2)
    await receivedTogether([m], 200)
    expect(tally([m], payloads(200))).toMatchObject({ missing: [], duplicates: 0 })
    // every copy acknowledged: nothing is left in the member's session, nor with the group
    await m.end()
    const ready = new Promise<void>((resolve) => b.broker.aedes.once('clientReady', () => resolve()))
    const back = await client(b, 'dashboard', opts)
    await ready
    await publish(pub, 'sensors/sensor-1/t', 'after', { qos: 2 })
    await back.waitFor((x) => x.payload === 'after')
    expect(back.messages.map((x) => x.payload)).toEqual(['after'])
  })

  it('keeps messages for its persistent members published while the broker was down and they were away', async () => {
    let b = await scope.start({ config: { persistence: 'level' } })
    const opts = { clientId: 'durable-worker', clean: false }
    const m = await client(b, 'dashboard', opts)
    await subscribe(m, '$share/g/sensors/#', 2)
    await m.end()
    b = await scope.restart()
    const pub = await client(b, 'sensor-1')
    await publishStream(pub, 'sensors/sensor-1/t', 10, 2)
    const back = await client(b, 'dashboard', opts)
    await receivedTogether([back], 10)
    expect(tally([back], payloads(10))).toMatchObject({ missing: [], duplicates: 0 })
  })
})
