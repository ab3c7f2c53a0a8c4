// MQTT 5 Session Expiry on Warden, on each store in one process: a session expires after its own interval
// (clamped by sessions.expiryMs), kept in the store so that a restart neither forgets nor revives it; a
// DISCONNECT may change it (not from 0: DISCONNECT 0x82); shutdown tells v5 clients 0x8B; real mosquitto_sub
// -V mqttv5 -c -x sessions.
import type { Client, Subscription } from 'aedes'
import type { Packet } from 'mqtt-packet'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { mosquittoSub, type Sub } from '../helpers/mosquitto.js'
import { get } from '../helpers/http.js'
import { connackCode } from '../helpers/mqtt.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const subs: Sub[] = []
afterEach(async () => { await Promise.all(subs.splice(0).map((s) => s.stop())) })

/** the broker of the running test, kept for the Redis clean-up (which runs after the scope forgot it) */
let current: TestBroker | undefined

async function startOn (persistence: 'memory' | 'level' | 'redis', config: Record<string, unknown> = {}): Promise<TestBroker> {
  let redis: TestRedis | undefined
  if (persistence === 'redis') {
    redis = await startRedis()
    const r = redis
    scope.defer(async () => { await current?.stop(); await r.stop() })
  }
  // swept by hand with a clock moved forward, unless a test says otherwise
  current = await scope.start({
    config: { persistence, ...(redis !== undefined ? { redis: { url: redis.url } } : {}), sessions: { sweepIntervalMs: 3_600_000 }, ...config }
  })
  return current
}

/** resolves once the broker has seen the client `id` go (its session's deadline is then recorded) */
const gone = (id: string): Promise<void> => new Promise((resolve) => {
  const aedes = scope.tb.broker.aedes
  const on = (c: Client): void => { if (c.id === id) { aedes.removeListener('clientDisconnect', on); resolve() } }
  aedes.on('clientDisconnect', on)
})

const session = (clientId: string, expiry: number): Record<string, unknown> => ({ clientId, clean: false, properties: { sessionExpiryInterval: expiry } })

/** a v5 session subscribed to sensors/# at QoS 1, then disconnected */
async function leave (clientId: string, expiry: number): Promise<void> {
  const c = await connect5(scope, scope.tb.url, 'dashboard', session(clientId, expiry))
  await subscribe5(c, 'sensors/#', { qos: 1 })
  const g = gone(clientId)
  await c.end()
  await g
}

async function publishQueued (payload: string): Promise<void> {
  const pub = await connect5(scope, scope.tb.url, 'sensor-1')
  await pub.client.publishAsync('sensors/sensor-1/t', payload, { qos: 1 })
  await pub.end()
}

describe.each(['memory', 'level', 'redis'] as const)('Session Expiry Interval (%s)', (persistence) => {
  it('a session expires after its own interval, not sessions.expiryMs; a longer one is kept with its queue', async () => {
    const tb = await startOn(persistence)
    await leave('short', 2)
    await leave('long', 3600)
    await publishQueued('queued')
    expect(await tb.broker.sessions.sweep(Date.now() + 1000)).toEqual([])
    expect(await tb.broker.sessions.sweep(Date.now() + 2500)).toEqual(['short'])
    const short = await connect5(scope, tb.url, 'dashboard', session('short', 2))
    expect(short.connack.sessionPresent).toBe(false)
    const long = await connect5(scope, tb.url, 'dashboard', session('long', 3600))
    expect(long.connack.sessionPresent).toBe(true)
    await long.next((p) => p.payload.toString() === 'queued')
    expect(short.got).toEqual([])
  })

  it('a DISCONNECT that changes the interval is honoured', async () => {
    const tb = await startOn(persistence)
    const c = await connect5(scope, tb.url, 'dashboard', session('shortened', 3600))
    await subscribe5(c, 'sensors/#', { qos: 1 })
    const g = gone('shortened')
    await new Promise<void>((resolve) => c.client.end(false, { properties: { sessionExpiryInterval: 1 } }, () => resolve()))
    await g
    expect(await tb.broker.sessions.sweep(Date.now() + 1500)).toEqual(['shortened'])
  })

  it.skipIf(persistence === 'memory')('across a restart: a session whose expiry passed while the broker was down is gone, ' +
    'one whose expiry has not passed is there with its queue', async () => {
    await startOn(persistence)
    await leave('short', 1)
    const deadline = Date.now() + 1000
    await leave('long', 3600)
    await publishQueued('kept')
    current = await scope.restart({
      // the short session's expiry passes while no broker runs
      whileStopped: async () => { while (Date.now() <= deadline) await new Promise((resolve) => setTimeout(resolve, deadline - Date.now() + 1)) }
    })
    const short = await connect5(scope, current.url, 'dashboard', session('short', 1))
    expect(short.connack.sessionPresent).toBe(false)
    const long = await connect5(scope, current.url, 'dashboard', session('long', 3600))
    expect(long.connack.sessionPresent).toBe(true)
    await long.next((p) => p.payload.toString() === 'kept')
  })
})

describe('Session Expiry, what a client may and may not do', () => {
  it('a huge interval is clamped to sessions.expiryMs, and the session expires there', async () => {
    const tb = await startOn('level', { sessions: { expiryMs: 60_000, sweepIntervalMs: 3_600_000 } })
    const c = await connect5(scope, tb.url, 'dashboard', session('forever', 0xFFFFFFFF))
    expect(c.connack.properties?.sessionExpiryInterval).toBe(60)
    await subscribe5(c, 'sensors/#', { qos: 1 })
    const g = gone('forever')
    await c.end()
    await g
    expect(await tb.broker.sessions.sweep(Date.now() + 59_000)).toEqual([])
    expect(await tb.broker.sessions.sweep(Date.now() + 61_000)).toEqual(['forever'])
  })

  it('another account can neither take over nor wipe an MQTT 5 session (CONNACK 0x85): the owner keeps its connection and session', async () => {
    const tb = await startOn('level')
    const owner = await connect5(scope, tb.url, 'dashboard', session('owned', 600))
    await subscribe5(owner, 'sensors/#', { qos: 1 })
    const intrude = async (): Promise<void> => {
      for (const clean of [false, true]) {
        expect(await connackCode(tb.url, {
          protocolVersion: 5, username: 'sensor-2', password: PASSWORD, clientId: 'owned', clean, properties: { sessionExpiryInterval: 0 }
        })).toBe(0x85)
      }
    }
    await intrude()
    await publishQueued('still-mine')
    await owner.next((p) => p.payload.toString() === 'still-mine')
    const g = gone('owned')
    await owner.end()
    await g
    await intrude()
    await publishQueued('queued-for-owner')
    const back = await connect5(scope, tb.url, 'dashboard', session('owned', 600))
    expect(back.connack.sessionPresent).toBe(true)
    await back.next((p) => p.payload.toString() === 'queued-for-owner')
  })

  it('the same account connecting with the id takes the session over: the old connection gets DISCONNECT 0x8E', async () => {
    const tb = await startOn('level')
    const first = await connect5(scope, tb.url, 'dashboard', session('taken', 600))
    await subscribe5(first, 'sensors/#', { qos: 1 })
    const d = first.disconnected()
    const second = await connect5(scope, tb.url, 'dashboard', session('taken', 600))
    await first.closed()
    expect((await Promise.race([d, Promise.resolve(undefined)]))?.reasonCode).toBe(0x8E)
    expect(second.connack.sessionPresent).toBe(true)
    await publishQueued('to-second')
    await second.next((p) => p.payload.toString() === 'to-second')
  })

  it('a DISCONNECT raising an interval of 0 is a protocol error (DISCONNECT 0x82); the session still ends', async () => {
    const tb = await startOn('level')
    const c = scope.track(await rawClient(tb.port, { protocolVersion: 5 }))
    c.send(connectPacket('dashboard', 'ephemeral', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 0 } } as Partial<Packet>))
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0 })
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] } as Packet)
    await c.next('suback')
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } } as Packet)
    expect(await c.next('disconnect')).toMatchObject({ reasonCode: 0x82 })
    // the session ends with the connection: its subscriptions are removed from the store once the close is
    // handled (not necessarily before an immediate reconnect arrives, which on a busy machine may overtake it)
    await expect.poll(async () => (await get(tb, '/api/v1/sessions/ephemeral')).body.subscriptions).toBe(0)
    const back = await connect5(scope, tb.url, 'dashboard', session('ephemeral', 60))
    expect(back.connack.sessionPresent).toBe(false)
  })

  it('shutdown tells MQTT 5 clients DISCONNECT 0x8B', async () => {
    const tb = await startOn('memory')
    const c = await connect5(scope, tb.url, 'dashboard')
    const d = c.disconnected()
    await tb.broker.close()
    await c.closed()
    // the DISCONNECT comes before the close, or not at all
    expect((await Promise.race([d, Promise.resolve(undefined)]))?.reasonCode).toBe(0x8B)
  })
})

describe.each(['memory', 'level', 'redis'] as const)('mosquitto_sub -V mqttv5 -c -x (%s)', (persistence) => {
  async function sub5 (id: string, expiry: number): Promise<Sub> {
    const aedes = scope.tb.broker.aedes
    const subscribed = new Promise<void>((resolve) => {
      const on = (_s: Subscription[], c: Client): void => { if (c.id === id) { aedes.removeListener('subscribe', on); resolve() } }
      aedes.on('subscribe', on)
    })
    const args = ['-V', 'mqttv5', '-i', id, '-c', '-x', String(expiry), '-q', '1', '-u', 'dashboard', '-P', PASSWORD, '-t', 'sensors/#', '-v']
    const s = mosquittoSub(scope.tb.port, args)
    subs.push(s)
    await Promise.race([subscribed, s.exited().then((r) => { throw new Error(`mosquitto_sub exited: ${r.stderr}`) })])
    return s
  }

  it('a session of -x 1 expires after a second; one of -x 3600 gets its queue back', async () => {
    const tb = await startOn(persistence)
    for (const [id, x] of [['mosq-short', 1], ['mosq-long', 3600]] as const) {
      const s = await sub5(id, x)
      const g = gone(id)
      await s.stop()
      await g
    }
    await publishQueued('for-mosquitto')
    expect(await tb.broker.sessions.sweep(Date.now() + 1500)).toEqual(['mosq-short'])
    const back = await sub5('mosq-long', 3600)
    await back.waitForLine((l) => l === 'sensors/sensor-1/t for-mosquitto')
    const short = await sub5('mosq-short', 1)
    await publishQueued('marker')
    await short.waitForLine((l) => l.endsWith(' marker'))
    expect(short.lines).toEqual(['sensors/sensor-1/t marker'])
  })
})
