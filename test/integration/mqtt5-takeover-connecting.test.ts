// A CONNECT of an MQTT 5 client id whose older connection on this process is still in its connect steps
// (authenticated, its subscriptions being fetched or its stored queue being sent). The newer one takes the
// session, and the older one is told DISCONNECT 0x8E (MQTT-3.1.4-3) — only once it has its CONNACK, as no
// DISCONNECT may come before one (MQTT-3.14.0-1): the newer CONNECT waits for that CONNACK
// (sessions/connect-order.ts, aedes/takeover-disconnect.ts; from another process, sessions.ts takeOverLocal).
// The older connection's steps are held at a store call the test releases. On one process the store is the
// memory one, so that everything between a password's verification and the CONNECT's admission (the client-id
// binding included) runs in the turn of the verification.
import { EventEmitter, once } from 'node:events'
import type { Client } from 'aedes'
import mqtt, { type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { connect5, subscribe5 } from '../helpers/mqtt5.js'
import { startRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const TOPIC = 'sensors/sensor-1/t'

interface Store {
  subscriptionsByClient: (c: Client) => Promise<unknown[]>
  outgoingStream: (c: Client) => AsyncIterable<unknown>
}
const storeOf = (tb: TestBroker): Store => (tb.broker.aedes as unknown as { persistence: Store }).persistence

/** a promise and its resolver */
function signal<T = void> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

/** one connect step of the next CONNECT of `clientId`, held until released; `calls`: every client the step ran for */
interface StepHold {
  readonly held: Promise<Client>
  release (): void
  readonly calls: Client[]
  /** resolves when the step runs for another CONNECT of the id */
  readonly again: Promise<void>
}

/** holds the fetch of the stored subscriptions (a step before registration and CONNACK) of the next CONNECT of `clientId` */
function holdFetch (tb: TestBroker, clientId: string): StepHold {
  const store = storeOf(tb)
  const fetch = store.subscriptionsByClient.bind(store)
  const held = signal<Client>()
  const released = signal()
  const again = signal()
  const calls: Client[] = []
  store.subscriptionsByClient = async (c) => {
    if (c.id === clientId) {
      calls.push(c)
      if (calls.length === 1) { held.resolve(c); await released.promise } else again.resolve()
    }
    return await fetch(c)
  }
  scope.defer(() => { released.resolve(); store.subscriptionsByClient = fetch })
  return { held: held.promise, release: () => released.resolve(), calls, again: again.promise }
}

/**
 * holds the read of the stored queue (the last connect step, after CONNACK) of the next CONNECT of `clientId`; a
 * connection closed meanwhile reads nothing once released (the old connection's replay is not what is tested)
 */
function holdReplay (tb: TestBroker, clientId: string): StepHold {
  const store = storeOf(tb)
  const stream = store.outgoingStream.bind(store)
  const held = signal<Client>()
  const released = signal()
  const again = signal()
  const calls: Client[] = []
  let answered: Client | undefined
  // the read aedes makes after CONNACK, not the one made to decide sessionPresent
  const onConnack = (_p: unknown, c: Client): void => { if (c.id === clientId && answered === undefined) answered = c }
  tb.broker.aedes.on('connackSent', onConnack)
  store.outgoingStream = (c) => {
    if (c.id === clientId && calls.length > 0) { calls.push(c); again.resolve() }
    if (c !== answered || calls.length > 0) return stream(c)
    calls.push(c)
    return (async function * () {
      held.resolve(c)
      await released.promise
      if (!c.closed) yield * stream(c)
    })()
  }
  scope.defer(() => { released.resolve(); store.outgoingStream = stream; tb.broker.aedes.removeListener('connackSent', onConnack) })
  return { held: held.promise, release: () => released.resolve(), calls, again: again.promise }
}

/** resolves after the next password verification of `username` (a CONNECT's authentication) has an answer */
function verified (tb: TestBroker, username: string): Promise<void> {
  const dir = tb.broker.directory
  const verify = dir.authenticate.bind(dir)
  const done = signal()
  dir.authenticate = async (...args) => {
    const res = await verify(...args)
    if (args[0] === username) { dir.authenticate = verify; done.resolve() }
    return res
  }
  scope.defer(() => { dir.authenticate = verify })
  return done.promise
}

/** An MQTT.js v5 client whose CONNACK is not awaited: what it receives, in order */
interface Watched {
  readonly client: MqttClient
  /** `connack <code>`, `disconnect <code>`, `message <payload>` and `close`, in the order they came */
  readonly events: string[]
  readonly connack: Promise<IConnackPacket>
  readonly disconnect: Promise<IDisconnectPacket>
  readonly closed: Promise<void>
  /** resolves once an event equal to `event` has come */
  until (event: string): Promise<void>
}

function watch (tb: TestBroker, username: string, opts: mqtt.IClientOptions): Watched {
  const client = mqtt.connect(tb.url, { username, password: PASSWORD, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 30_000, ...opts })
  const events: string[] = []
  const connack = signal<IConnackPacket>()
  const disconnect = signal<IDisconnectPacket>()
  const noted = new EventEmitter()
  const note = (e: string): void => { events.push(e); noted.emit('event', e) }
  client.on('connect', (p) => { note(`connack ${p.reasonCode ?? 0}`); connack.resolve(p) })
  client.on('disconnect', (p) => { note(`disconnect ${p.reasonCode ?? 0}`); disconnect.resolve(p) })
  client.on('message', (_t, payload) => { note(`message ${payload.toString()}`) })
  client.on('error', () => {})
  const closed = new Promise<void>((resolve) => client.once('close', () => { note('close'); resolve() }))
  scope.defer(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  return {
    client,
    events,
    connack: connack.promise,
    disconnect: disconnect.promise,
    closed,
    until: async (event) => {
      while (!events.includes(event)) await once(noted, 'event')
    }
  }
}

const session = (clientId: string): mqtt.IClientOptions => ({ clientId, clean: false, properties: { sessionExpiryInterval: 600 } })

/** a session of `clientId` (dashboard, sensors/# at QoS 1), away, with `payload` queued for it */
async function awaySession (tb: TestBroker, clientId: string, payload: string): Promise<void> {
  const c = await connect5(scope, tb.url, 'dashboard', session(clientId))
  await subscribe5(c, 'sensors/#', { qos: 1 })
  const gone = new Promise<void>((resolve) => {
    const on = (x: Client): void => { if (x.id === clientId) { tb.broker.aedes.removeListener('clientDisconnect', on); resolve() } }
    tb.broker.aedes.on('clientDisconnect', on)
  })
  await c.end()
  await gone
  const pub = await connect5(scope, tb.url, 'sensor-1')
  await pub.client.publishAsync(TOPIC, payload, { qos: 1 })
  await pub.end()
}

/** a live message from sensor-1 reaches `to` */
async function live (tb: TestBroker, to: Watched, payload: string): Promise<void> {
  const pub = await connect5(scope, tb.url, 'sensor-1')
  await pub.client.publishAsync(TOPIC, payload, { qos: 1 })
  await to.until(`message ${payload}`)
  await pub.end()
}

/**
 * Connects B while A is held, and resolves once B's CONNECT has been admitted — or has begun its own connect
 * steps, which it must not while A has no CONNACK (asserted by the caller).
 */
async function connectWhileHeld (tb: TestBroker, hold: StepHold, clientId: string): Promise<Watched> {
  const passwordChecked = verified(tb, 'dashboard')
  const b = watch(tb, 'dashboard', session(clientId))
  await Promise.race([hold.again, passwordChecked.then(() => new Promise((resolve) => setImmediate(resolve)))])
  return b
}

describe('an MQTT 5 takeover of a connection still in its connect steps', () => {
  it('before its CONNACK: the newer CONNECT waits for it, then takes the session; the older one gets CONNACK, then DISCONNECT 0x8E', async () => {
    const tb = await scope.start({ config: { mqtt5: true, persistence: 'memory' } })
    await awaySession(tb, 'racing', 'queued-1')
    const fetch = holdFetch(tb, 'racing')
    const replay = holdReplay(tb, 'racing')
    const a = watch(tb, 'dashboard', session('racing'))
    await fetch.held

    const b = await connectWhileHeld(tb, fetch, 'racing')
    // B is authenticated: it must not fetch the session, nor register, nor be answered while A has no CONNACK
    expect(fetch.calls).toHaveLength(1)
    expect(b.events).toEqual([])

    fetch.release()
    // A's CONNACK is out, and its queue is held unread: B takes the session over now
    await replay.held
    expect((await b.connack).sessionPresent).toBe(true)
    await a.closed
    expect(a.events).toEqual(['connack 0', 'disconnect 142', 'close'])
    // nothing was lost or sent twice: the queued message goes to B, once, and so does a live one
    await b.until('message queued-1')
    await live(tb, b, 'live-1')
    expect(b.events).toEqual(['connack 0', 'message queued-1', 'message live-1'])
  })

  it('after its CONNACK, while its stored queue is being sent: it gets DISCONNECT 0x8E before its close', async () => {
    const tb = await scope.start({ config: { mqtt5: true, persistence: 'memory' } })
    await awaySession(tb, 'replaying', 'queued-2')
    const replay = holdReplay(tb, 'replaying')
    const a = watch(tb, 'dashboard', session('replaying'))
    await replay.held
    await a.connack

    const b = await connect5(scope, tb.url, 'dashboard', session('replaying'))
    expect(b.connack.sessionPresent).toBe(true)
    await a.closed
    expect(a.events).toEqual(['connack 0', 'disconnect 142', 'close'])
    await b.next((p) => p.payload.toString() === 'queued-2')
    replay.release()
    const pub = await connect5(scope, tb.url, 'sensor-1')
    await pub.client.publishAsync(TOPIC, 'live-2', { qos: 1 })
    await b.next((p) => p.payload.toString() === 'live-2')
    expect(b.got.map((p) => p.payload.toString())).toEqual(['queued-2', 'live-2'])
  })

  it('the newer CONNECT gone while it waited: the older one, whose session it claimed, still gets CONNACK then DISCONNECT 0x8E; ' +
    'the session stays, with its queue', async () => {
    const tb = await scope.start({ config: { mqtt5: true, persistence: 'memory' } })
    await awaySession(tb, 'left', 'queued-3')
    const fetch = holdFetch(tb, 'left')
    const a = watch(tb, 'dashboard', session('left'))
    await fetch.held

    // B's connection, as the broker sees it: the client it authenticates
    const admitted = signal<Client>()
    const auth = tb.broker.aedes.authenticate
    tb.broker.aedes.authenticate = (c, u, p, cb) => { if (c !== fetch.calls[0]) admitted.resolve(c); auth(c, u, p, cb) }
    scope.defer(() => { tb.broker.aedes.authenticate = auth })
    const b = await connectWhileHeld(tb, fetch, 'left')
    expect(fetch.calls).toHaveLength(1)
    const bConn = (await admitted.promise).conn
    const bClosed = once(bConn, 'close')
    b.client.stream.destroy()
    await Promise.all([b.closed, bClosed])

    fetch.release()
    await a.closed
    expect(a.events).toEqual(['connack 0', 'disconnect 142', 'close'])
    expect(b.events).toEqual(['close'])
    const back = await connect5(scope, tb.url, 'dashboard', session('left'))
    expect(back.connack.sessionPresent).toBe(true)
    await back.next((p) => p.payload.toString() === 'queued-3')
  })
})

describe('an MQTT 5 takeover from another process of a connection still in its connect steps (one Redis)', () => {
  it('the connection here gets its CONNACK, then DISCONNECT 0x8E; the one on the other process the session', async () => {
    const redis = await startRedis()
    const node = (brokerId: string): Promise<TestBroker> =>
      scope.startAnother({ config: { mqtt5: true, persistence: 'redis', redis: { url: redis.url }, brokerId } })
    const [here, there] = await Promise.all([node('here'), node('there')])
    scope.defer(async () => { await here.stop(); await there.stop(); await redis.stop() })
    await awaySession(here, 'roaming', 'queued-4')
    const fetch = holdFetch(here, 'roaming')
    const replay = holdReplay(here, 'roaming')
    const a = watch(here, 'dashboard', session('roaming'))
    await fetch.held

    // the other process asks this one to take its connection of the id over
    const asked = signal()
    const sessions = here.broker.clientIds as { takeOverLocal: (id: string) => Promise<void> }
    const takeOverLocal = sessions.takeOverLocal.bind(sessions)
    sessions.takeOverLocal = async (id) => { asked.resolve(); await takeOverLocal(id) }
    const b = watch(there, 'dashboard', session('roaming'))
    await asked.promise
    fetch.release()
    await replay.held
    await a.closed
    expect(a.events).toEqual(['connack 0', 'disconnect 142', 'close'])
    expect((await b.connack).sessionPresent).toBe(true)
    await b.until('message queued-4')
    await live(here, b, 'live-4')
    expect(b.events).toEqual(['connack 0', 'message queued-4', 'message live-4'])
  })
})
