// One view of a cluster: whichever worker answers, /metrics, /api/v1/clients, /api/v1/status and /api/v1/groups
// cover every live worker, each part named by its worker; a worker that does not answer is named as missing.
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { get, httpUrl } from '../helpers/http.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { parseExposition } from '../helpers/prometheus.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { ASK_TIMEOUT_MS, mergeExpositions } from '../../apps/broker/src/observe/cluster-view.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const node = (brokerId: string): Promise<TestBroker> => scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId } })
const client = (b: TestBroker, username: string, clientId?: string): Promise<TestClient> =>
  scope.client(username, clientId === undefined ? {} : { clientId }, b)

describe('a cluster seen from any worker', () => {
  it('/api/v1/clients lists the clients of every worker, each with its worker', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await client(a, 'sensor-1', 'on-a')
    await client(b, 'sensor-2', 'on-b')
    await client(b, 'dashboard', 'also-on-b')
    for (const asked of [a, b]) {
      const r = await get(asked, '/api/v1/clients')
      expect(r.status).toBe(200)
      expect(r.body.total).toBe(3)
      expect(r.body.missing).toEqual([])
      const where = Object.fromEntries((r.body.clients as Array<{ clientId: string, worker: string }>).map((c) => [c.clientId, c.worker]))
      expect(where).toEqual({ 'on-a': 'a', 'on-b': 'b', 'also-on-b': 'b' })
    }
  })

  it('/metrics has every worker\'s series, labelled, so counters of one worker never jump', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const s1 = await client(a, 'sensor-1')
    const reader = await client(b, 'dashboard')
    await subscribe(reader, 'sensors/#', 1)
    for (let i = 0; i < 3; i++) await publish(s1, 'sensors/sensor-1/t', `m${i}`, { qos: 1 })
    await reader.waitFor((m) => m.payload.toString() === 'm2')
    for (const asked of [a, b, a]) {
      const r = await get(asked, '/metrics', { as: 'observer' })
      const m = parseExposition(r.body as string)
      expect(m.value('warden_messages_received_total', { qos: '1', worker: 'a' })).toBe(3)
      expect(m.value('warden_messages_received_total', { qos: '1', worker: 'b' })).toBe(0)
      expect(m.value('warden_messages_sent_total', { qos: '1', worker: 'b' })).toBe(3)
      expect(m.value('warden_clients_connected', { worker: 'a' })).toBe(1)
      expect(m.value('warden_clients_connected', { worker: 'b' })).toBe(1)
      expect(m.value('warden_cluster_workers', { state: 'answered' })).toBe(2)
      expect(m.value('warden_cluster_workers', { state: 'missing' })).toBe(0)
      // one TYPE line per family, whatever the number of workers
      expect((r.body as string).match(/^# TYPE warden_clients_connected /gm)).toHaveLength(1)
    }
  })

  it('/api/v1/status adds the cluster\'s workers and totals', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await client(a, 'sensor-1')
    await client(b, 'dashboard', 'member-1')
    const status = (await get(a, '/api/v1/status')).body
    expect(status.brokerId).toBe('a')
    expect(status.cluster.clients).toBe(2)
    expect(status.cluster.workers.map((w: { worker: string }) => w.worker).sort()).toEqual(['a', 'b'])
    expect(status.cluster.missing).toEqual([])
  })

  it('/api/v1/groups: one entry per group, its members with their worker, every worker\'s deliveries summed', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const onA = await client(a, 'dashboard', 'member-a')
    const onB = await client(b, 'dashboard', 'member-b')
    await subscribe(onA, '$share/readers/sensors/#', 1)
    await subscribe(onB, '$share/readers/sensors/#', 1)
    // each worker dispatches the messages its own clients publish, and counts them
    const pubA = await client(a, 'sensor-1')
    const pubB = await client(b, 'sensor-2')
    const wait = async (): Promise<void> => {
      await expect.poll(async () => {
        const g = (await get(a, '/api/v1/groups')).body.groups as Array<{ members: Array<{ clientId: string, connected: boolean }> }>
        return g[0]?.members.filter((m) => m.connected).length
      }).toBe(2)
    }
    await wait()
    for (let i = 0; i < 4; i++) {
      await publish(pubA, 'sensors/sensor-1/t', `a${i}`, { qos: 1 })
      await publish(pubB, 'sensors/sensor-2/t', `b${i}`, { qos: 1 })
    }
    await expect.poll(() => onA.messages.length + onB.messages.length).toBe(8)
    for (const asked of [a, b]) {
      const body = (await get(asked, '/api/v1/groups', { as: 'observer' })).body
      expect(body.missing).toEqual([])
      expect([...body.workers].sort()).toEqual(['a', 'b'])
      expect(body.groups).toHaveLength(1)
      const g = body.groups[0]
      expect(g).toMatchObject({ group: 'readers', filter: 'sensors/#', delivered: 8, waiting: 0 })
      expect(g.worker).toBeUndefined()
      expect(g.members.map((m: { clientId: string, worker: string }) => [m.clientId, m.worker])).toEqual([['member-a', 'a'], ['member-b', 'b']])
      const delivered = g.members.reduce((n: number, m: { delivered: number }) => n + m.delivered, 0)
      expect(delivered).toBe(8)
      expect(g.members.find((m: { clientId: string }) => m.clientId === 'member-a').delivered).toBe(onA.messages.length)
    }
  })

  it('a worker that stopped leaves the view; one that died (still listed) is named as missing at once; a silent one after the wait', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await b.close()
    let r = await get(a, '/api/v1/clients')
    expect(r.body.workers).toEqual(['a'])
    // a SIGKILLed worker stays in the list of live workers until its entry expires, but its connections are gone:
    // it is not asked, and named without the wait
    const conn = new Redis(redis.url)
    scope.defer(() => conn.disconnect())
    await conn.zadd('warden:cluster-workers', Date.now() + 60_000, 'dead-worker')
    r = await get(a, '/api/v1/clients')
    expect(r.status).toBe(200)
    expect(r.body.missing).toEqual(['dead-worker'])
    let m = parseExposition((await get(a, '/metrics', { as: 'observer' })).body as string)
    expect(m.value('warden_cluster_workers', { state: 'missing' })).toBe(1)
    expect(m.value('warden_cluster_ask_timeouts_total', { worker: 'a' })).toBe(0)
    // one whose connection Redis still holds (alive, but stuck) is waited for
    const stuck = new Redis(redis.url)
    scope.defer(() => stuck.disconnect())
    await stuck.subscribe('warden:cluster\u0000reply:dead-worker')
    const t0 = Date.now()
    r = await get(a, '/api/v1/clients')
    expect(r.body.missing).toEqual(['dead-worker'])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(ASK_TIMEOUT_MS - 100)
    m = parseExposition((await get(a, '/metrics', { as: 'observer' })).body as string)
    expect(m.value('warden_cluster_ask_timeouts_total', { worker: 'a' })).toBe(1)
  })
})

describe('the CLI on a cluster', () => {
  it('warden clients has a WORKER column, warden status a line per worker, and a silent worker is named on stderr', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await client(a, 'sensor-1', 'cli-on-a')
    await client(b, 'sensor-2', 'cli-on-b')
    const env = { WARDEN_URL: httpUrl(a), WARDEN_ADMIN_USER: 'observer', WARDEN_ADMIN_PASSWORD: PASSWORD }
    const clients = await runCli(['clients'], { env })
    expect(clients.code).toBe(0)
    const lines = clients.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^WORKER\s+CLIENT ID/)
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')).sort()).toEqual(['a cli-on-a', 'b cli-on-b'])
    const status = await runCli(['status'], { env })
    expect(status.stdout).toMatch(/cluster\s+2 workers: 2 clients/)
    expect(status.stdout).toMatch(/^\s+b\s+up .*, 1 clients/m)
    const conn = new Redis(redis.url)
    scope.defer(() => conn.disconnect())
    await conn.zadd('warden:cluster-workers', Date.now() + 60_000, 'dead-worker')
    const partial = await runCli(['clients'], { env })
    expect(partial.code).toBe(0)
    expect(partial.stderr).toMatch(/no answer from worker dead-worker: not shown/)
  })
})

describe('mergeExpositions', () => {
  it('labels every sample, escapes the worker id, and keeps each family together', () => {
    const text = '# HELP x_total X\n# TYPE x_total counter\nx_total 1\n# HELP y Y\n# TYPE y gauge\ny{k="v"} 2\n'
    const out = mergeExpositions([{ worker: 'w"1', data: text }, { worker: 'w2', data: text }])
    expect(out).toBe([
      '# HELP x_total X', '# TYPE x_total counter', 'x_total{worker="w\\"1"} 1', 'x_total{worker="w2"} 1',
      '# HELP y Y', '# TYPE y gauge', 'y{worker="w\\"1",k="v"} 2', 'y{worker="w2",k="v"} 2', ''
    ].join('\n'))
  })
})
