// Upgrade from the last Warden on aedes 1.2 (f689a38): the current build started on what that build left in its
// stores — LevelDB data dir, Redis dump — made by scripts/upgrade-fixtures/make.mjs after a clean stop and after
// a SIGKILL. Persistent sessions resume with every queued QoS 1/2 message once (read by MQTT 3.1.1 and MQTT 5
// clients), a consumer group's queue and a dead broker's will are delivered, a QoS 2 message in flight completes
// once, retained messages and client-id bindings are there, and so are the registry's run-time changes.
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IPublishPacket } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { get, topicPath } from '../helpers/http.js'
import { connackCode, publish, subscribe } from '../helpers/mqtt.js'
import { connect5, type V5Client } from '../helpers/mqtt5.js'
import { ROOT } from '../helpers/process.js'
import { connectPacket, rawClient } from '../helpers/raw-mqtt.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const FIXTURES = join(ROOT, 'test/fixtures/upgrade-from-aedes-1.2')

/** what the old build queued for each of the `dashboard` sessions subscribed to sensors/sensor-1/# (QoS 1) and
 * sensors/shared/# (QoS 2), in publishing order, with the QoS each is delivered at */
const QUEUED = [
  ...['q1-1', 'q1-2', 'q1-3'].map((p) => ({ topic: 'sensors/sensor-1/q1', payload: p, qos: 1 })),
  ...['q2-1', 'q2-2', 'q2-3'].map((p) => ({ topic: 'sensors/shared/q2', payload: p, qos: 2 })),
  // published at QoS 2 by a client that never sent its PUBREL
  { topic: 'sensors/shared/inflight', payload: 'inflight-1', qos: 2 }
]
/** what the consumer group `upg` ($share/upg/sensors/sensor-1/#, QoS 1) kept for its one member, away */
const GROUP_QUEUED = QUEUED.filter((m) => m.topic.startsWith('sensors/sensor-1/'))
const RETAINED = [
  { topic: 'private/state', payload: 'retained-1' },
  // published by sensor-2 before its account was deleted at run time
  { topic: 'sensors/sensor-2/state', payload: 'retained-2' },
  // on a topic registered at run time, by the account made at run time
  { topic: 'upgraded/upgraded-1/state', payload: 'retained-up' }
]
const MARKER = 'after-upgrade'
const RUNTIME_PASSWORD = 'upgrade-pass-1'

const FIXTURE_KINDS = [
  { name: 'level', killed: false },
  { name: 'level-killed', killed: true },
  { name: 'redis', killed: false },
  { name: 'redis-killed', killed: true }
] as const

/** the current build on a copy of the fixture (the checkout is never written) */
async function startOnFixture (name: string): Promise<TestBroker> {
  const copy = await mkdtemp(join(tmpdir(), 'warden-upgrade-'))
  const started: TestBroker[] = []
  let redis: TestRedis | undefined
  // the broker goes before its Redis and its files (deferred closes run before the scope's brokers close)
  scope.defer(async () => {
    for (const b of started) await b.stop()
    await redis?.stop()
    await rm(copy, { recursive: true, force: true })
  })
  await cp(join(FIXTURES, name), copy, { recursive: true })
  // the fixture's sessions went idle when it was made: with any expiry they would be gone by the time it is read
  const config: Record<string, unknown> = { sessions: { expiryMs: 0 }, limits: { heartbeatIntervalMs: 100 } }
  if (name.startsWith('redis')) {
    redis = await startRedis({ rdb: copy })
    Object.assign(config, { persistence: 'redis', redis: { url: redis.url } })
  }
  const tb = await scope.start({ ...(redis === undefined ? { dataDir: join(copy, 'dataDir') } : {}), config })
  started.push(tb)
  return tb
}

/** rejects naming what is missing when `p` has not resolved well inside the test's timeout */
async function missing<T> (p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`not delivered: ${what}`)), ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

/** the messages of each topic in the order they came */
function byTopic (list: Array<{ topic: string, payload: string, qos: number }>): Record<string, Array<{ payload: string, qos: number }>> {
  const out: Record<string, Array<{ payload: string, qos: number }>> = {}
  for (const { topic, payload, qos } of list) (out[topic] ??= []).push({ payload, qos })
  return out
}
const strip = (p: IPublishPacket): { topic: string, payload: string, qos: number } => ({ topic: p.topic, payload: p.payload.toString(), qos: p.qos })

describe.each(FIXTURE_KINDS)('a store written by Warden on aedes 1.2 ($name)', ({ name, killed }) => {
  it('is read by this build with nothing lost and nothing delivered twice', async () => {
    const tb = await startOnFixture(name)

    // the registry's run-time changes: an account and its topic added, a config-file account deleted
    expect(await connackCode(tb.url, { username: 'upgraded-1', password: RUNTIME_PASSWORD, clientId: 'upg-up-2' })).toBe(0)
    expect(await connackCode(tb.url, { username: 'sensor-2', password: 'test-secret', clientId: 'upg-s2-2' })).toBe(4)
    const reg = await get(tb, topicPath('upgraded/upgraded-1/#'))
    expect(reg.status).toBe(200)
    expect((reg.body as { owners: string[] }).owners).toEqual(['upgraded-1'])
    // a client id stays bound to the account whose session it names
    expect(await connackCode(tb.url, { username: 'observer', password: 'test-secret', clientId: 'upg-v3' })).toBe(2)

    // the QoS 2 message whose PUBREL never came: the session is there, and the flow completes once
    const inflight = scope.track(await rawClient(tb.port))
    inflight.send(connectPacket('sensor-1', 'upg-inflight', { clean: false } as Partial<Packet>))
    expect(await inflight.next('connack')).toMatchObject({ returnCode: 0, sessionPresent: true })
    inflight.send({ cmd: 'pubrel', messageId: 7 } as Packet)
    expect(await inflight.next('pubcomp')).toMatchObject({ messageId: 7 })

    // the persistent sessions resume with their queues: MQTT 3.1.1, an MQTT 5 client on a session a 3.1.1 client
    // made, a consumer group's member (its group's queue), and an observer waiting for a will
    const resume = async (username: string, clientId: string, protocolVersion: 4 | 5): Promise<V5Client> => {
      const c = await connect5(scope, tb.url, username, { clientId, clean: false, protocolVersion })
      expect(c.connack.sessionPresent, clientId).toBe(true)
      return c
    }
    const v3 = await resume('dashboard', 'upg-v3', 4)
    const v5 = await resume('dashboard', 'upg-v5', 5)
    const member = await resume('dashboard', 'upg-grp', 4)
    const obs = await resume('observer', 'upg-obs', 4)

    // the broker killed with a client connected: this build publishes its will, judged by its recorded owner
    if (killed) await obs.next((p) => p.topic === 'private/will' && p.payload.toString() === 'will-1')

    // retained messages, including the run-time account's and the deleted account's
    const reader = await scope.client('observer')
    await subscribe(reader, RETAINED.map((r) => r.topic), 1)
    for (const r of RETAINED) {
      const got = await reader.waitFor((m) => m.topic === r.topic, r.topic)
      expect({ payload: got.payload, retain: got.retain }).toEqual({ payload: r.payload, retain: true })
    }

    // every restored message arrives; then a marker published now, once in, closes each list: a copy delivered
    // twice would be in it. MQTT orders messages per topic, not a live one against a queue's: compared by topic
    const expected = new Map<V5Client, Array<{ topic: string, payload: string, qos: number }>>([
      [v3, QUEUED], [v5, QUEUED], [member, GROUP_QUEUED], [obs, killed ? [{ topic: 'private/will', payload: 'will-1', qos: 1 }] : []]
    ])
    for (const [c, list] of expected) {
      for (const m of list) {
        await missing(c.next((p) => p.topic === m.topic && p.payload.toString() === m.payload), `${String(c.client.options.clientId)}: ${m.payload}`)
      }
    }
    const pub = await scope.client('sensor-1')
    await publish(pub, 'sensors/sensor-1/marker', MARKER, { qos: 1 })
    await publish(pub, 'private/will', MARKER, { qos: 1 })
    const isMarker = (p: IPublishPacket): boolean => p.payload.toString() === MARKER
    await Promise.all([...expected.keys()].map((c) => c.next(isMarker)))
    const marker = (topic: string): { topic: string, payload: string, qos: number } => ({ topic, payload: MARKER, qos: 1 })
    for (const [c, list] of expected) {
      const withMarker = [...list, marker(c === obs ? 'private/will' : 'sensors/sensor-1/marker')]
      expect(byTopic(c.got.map(strip)), c.client.options.clientId).toEqual(byTopic(withMarker))
    }
  })
})
