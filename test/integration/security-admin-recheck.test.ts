// A registry change that waits before it is made (in a cluster, a topic's registration first asks every worker
// for its connected clients, up to 2 s when one is silent) is made only by its account as the registry has it
// then: an admin demoted or deleted through another worker during the wait changes nothing, over HTTP and
// over the control topic. An honest admin is not refused because another account changed meanwhile.
import { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { del, get, patch, post, topicPath } from '../helpers/http.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const REQUEST = '$CONTROL/warden/v1'
const RESPONSE = '$CONTROL/warden/v1/response'

const node = (brokerId: string): Promise<TestBroker> =>
  scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId, stats: { intervalMs: 100, sysIntervalMs: 60_000 } } })

/** two workers on one Redis and a third registered that never answers, alive as Redis sees it (its reply channel
 * has a subscriber; a listed worker without one is dead and not waited for): worker a's asks wait out their timeout */
async function cluster (): Promise<{ a: TestBroker, b: TestBroker, asked: () => Promise<void> }> {
  const a = await node('a')
  const b = await node('b')
  const conn = new Redis(redis.url)
  const sub = new Redis(redis.url)
  scope.defer(() => { conn.disconnect(); sub.disconnect() })
  await conn.zadd('warden:cluster-workers', Date.now() + 60_000, 'silent-worker')
  const waiting: Array<() => void> = []
  // worker a asking the others for their clients' accounts: the change waits from here on
  sub.on('message', (_channel: string, message: string) => {
    const ask = JSON.parse(message) as { from: string, kind: string }
    if (ask.from === 'a' && ask.kind === 'users') waiting.shift()?.()
  })
  await sub.subscribe('warden:cluster\u0000ask', 'warden:cluster\u0000reply:silent-worker')
  return { a, b, asked: () => new Promise<void>((resolve) => { waiting.push(resolve) }) }
}

it('an admin demoted through another worker while its topic registration waits on the cluster registers nothing (401)', async () => {
  const { a, b, asked } = await cluster()
  expect((await post(a, '/api/v1/users', { username: 'ops', password: PASSWORD, roles: ['admin'] })).status).toBe(201)
  const seen = asked()
  const create = post(a, '/api/v1/topics', { filter: 'backdoor/#', owners: ['sensor-1'] }, { as: 'ops' })
  await seen
  expect((await patch(b, '/api/v1/users/ops', { roles: ['observer'] })).status).toBe(200)
  const r = await create
  expect(r.status).toBe(401)
  expect(r.body.error.code).toBe('WARDEN_ERR_API_UNAUTHORIZED')
  // no Basic challenge: a dashboard's browser would show its own prompt
  expect(r.headers.get('www-authenticate')).toBeNull()
  for (const w of [a, b]) expect((await get(w, topicPath('backdoor/#'))).status).toBe(404)
})

it('deleted during the wait: a topic change is refused and the topic keeps its owners', async () => {
  const { a, b, asked } = await cluster()
  expect((await post(a, '/api/v1/users', { username: 'ops', password: PASSWORD, roles: ['admin'] })).status).toBe(201)
  const seen = asked()
  const change = patch(a, topicPath('sensors/sensor-2/#'), { owners: ['sensor-1'] }, { as: 'ops' })
  await seen
  expect((await del(b, '/api/v1/users/ops')).status).toBe(200)
  expect((await change).status).toBe(401)
  expect((await get(a, topicPath('sensors/sensor-2/#'))).body.owners).toEqual(['sensor-2'])
})

it('over the control topic: a createTopic already received from an admin demoted during the wait is answered not-authorized', async () => {
  const { a, b, asked } = await cluster()
  expect((await post(a, '/api/v1/users', { username: 'ops', password: PASSWORD, roles: ['admin'] })).status).toBe(201)
  // another admin reads the answers: ops, demoted, may no longer read $CONTROL
  const watcher: TestClient = await scope.client('admin', {}, a)
  expect(await subscribe(watcher, `${RESPONSE}/#`, 1)).toEqual([1])
  const ops = await scope.client('ops', {}, a)
  const device = await scope.client('sensor-1', { clientId: 'kept' }, a)
  const seen = asked()
  await publish(ops, REQUEST, JSON.stringify({
    responseTopic: `${RESPONSE}/ops`,
    commands: [{ command: 'createTopic', filter: 'backdoor/#', owners: ['sensor-1'] }, { command: 'kickClient', clientId: 'kept' }]
  }), { qos: 1 })
  await seen
  expect((await patch(b, '/api/v1/users/ops', { roles: ['observer'] })).status).toBe(200)
  const m = await watcher.waitFor((x) => x.topic === `${RESPONSE}/ops`, 'control response')
  const [create, kick] = JSON.parse(m.payload).responses
  expect(create).toMatchObject({ command: 'createTopic', code: 'WARDEN_ERR_API_UNAUTHORIZED' })
  // the next command of the same request, run after the demotion, is refused too
  expect(kick).toMatchObject({ command: 'kickClient', code: 'WARDEN_ERR_API_UNAUTHORIZED' })
  expect(device.client.connected).toBe(true)
  for (const w of [a, b]) expect((await get(w, topicPath('backdoor/#'))).status).toBe(404)
})

it('an honest admin\'s registration is made while other accounts change during its wait', async () => {
  const { a, b, asked } = await cluster()
  const seen = asked()
  const create = post(a, '/api/v1/topics', { filter: 'honest/#', owners: ['sensor-1'] })
  await seen
  expect((await patch(b, '/api/v1/users/sensor-2', { roles: ['consumer'] })).status).toBe(200)
  expect((await post(b, '/api/v1/users', { username: 'late', password: PASSWORD, roles: ['admin'] })).status).toBe(201)
  expect((await create).status).toBe(201)
  for (const w of [a, b]) expect((await get(w, topicPath('honest/#'))).body.owners).toEqual(['sensor-1'])
})
