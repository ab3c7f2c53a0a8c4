// One view of a cluster, the rest of it: /api/v1/fleet, /users, /topics and /denials answer for every live worker
// whichever worker pm2 hands the request to: a client on worker A is seen from worker B, counts and rates are
// summed, refusals merged, each entry named by its worker; a silent worker is named as missing.
import { Redis } from 'ioredis'
import { describe, expect, it, vi } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { get, httpUrl, patch, topicPath } from '../helpers/http.js'
import { publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const node = (brokerId: string, config: Record<string, unknown> = {}): Promise<TestBroker> =>
  scope.startAnother({ config: { persistence: 'redis', redis: { url: redis.url }, brokerId, stats: { intervalMs: 100, sysIntervalMs: 60_000 }, ...config } })
const client = (b: TestBroker, username: string, clientId?: string): Promise<TestClient> =>
  scope.client(username, clientId === undefined ? {} : { clientId }, b)

interface FleetRow { username: string, connected: boolean, clients: string[], messages: number, connections: Array<{ clientId: string, worker: string }> }
interface TopicRow { filter: string, subscribers: number, messages: number, bytes: number, messagesPerSecond: number, lastPublishAt: string | null }
interface Denial { ts: string, worker: string, username: string, topic: string, reason: string }

describe('a cluster seen from any worker, continued', () => {
  it('/api/v1/fleet: an account connected on one worker is connected seen from the other, its clients\' workers named, its messages summed', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const s1 = await client(a, 'sensor-1', 's1-on-a')
    await client(b, 'sensor-1', 's1-on-b')
    for (let i = 0; i < 3; i++) await publish(s1, 'sensors/sensor-1/t', `m${i}`, { qos: 1 })
    const s2 = await client(b, 'sensor-2', 's2-on-b')
    await publish(s2, 'sensors/sensor-2/t', 'x', { qos: 1 })
    for (const asked of [a, b]) {
      const r = await get(asked, '/api/v1/fleet', { as: 'observer' })
      expect(r.status).toBe(200)
      expect(r.body.missing).toEqual([])
      expect([...r.body.workers].sort()).toEqual(['a', 'b'])
      const rows = Object.fromEntries((r.body.accounts as FleetRow[]).map((row) => [row.username, row]))
      expect(rows['sensor-1']).toMatchObject({
        connected: true, clients: ['s1-on-a', 's1-on-b'], messages: 3,
        connections: [{ clientId: 's1-on-a', worker: 'a' }, { clientId: 's1-on-b', worker: 'b' }]
      })
      expect(rows['sensor-2']).toMatchObject({ connected: true, clients: ['s2-on-b'], messages: 1, connections: [{ clientId: 's2-on-b', worker: 'b' }] })
      expect(rows.dashboard).toMatchObject({ connected: false, clients: [], messages: 0, connections: [] })
      // connected accounts first, whichever worker holds them
      expect((r.body.accounts as FleetRow[]).slice(0, 2).map((row) => row.username)).toEqual(['sensor-1', 'sensor-2'])
    }
    // the limit applies to the merged list: the account connected on the other worker still comes first
    const one = await get(a, '/api/v1/fleet?limit=1', { as: 'observer' })
    expect(one.body.total).toBe(5)
    expect((one.body.accounts as FleetRow[]).map((row) => row.username)).toEqual(['sensor-1'])
  })

  it('/api/v1/users: each account\'s connections summed over the workers', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await client(a, 'sensor-1', 'u-1')
    await client(a, 'sensor-1', 'u-2')
    await client(b, 'sensor-1', 'u-3')
    await client(b, 'dashboard', 'u-4')
    for (const asked of [a, b]) {
      const r = await get(asked, '/api/v1/users')
      expect(r.body.missing).toEqual([])
      const conns = Object.fromEntries((r.body.users as Array<{ username: string, connections: number }>).map((u) => [u.username, u.connections]))
      expect(conns).toMatchObject({ 'sensor-1': 3, dashboard: 1, 'sensor-2': 0 })
      expect((await get(asked, '/api/v1/users/sensor-1')).body.connections).toBe(3)
    }
  })

  it('/api/v1/topics: subscribers, messages, bytes and rates summed over the workers; a topic\'s page lists every worker\'s subscribers', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const reader = await client(a, 'dashboard', 'reader-on-a')
    await subscribe(reader, 'sensors/#', 1)
    const s1a = await client(a, 'sensor-1')
    const s1b = await client(b, 'sensor-1')
    await publish(s1a, 'sensors/sensor-1/t', '12345', { qos: 1 })
    await publish(s1b, 'sensors/sensor-1/t', '123', { qos: 1 })
    await publish(s1b, 'sensors/sensor-1/t', '1', { qos: 1 })
    await reader.waitFor((m) => m.payload.toString() === '1')
    for (const asked of [a, b]) {
      const r = await get(asked, '/api/v1/topics', { as: 'observer' })
      expect(r.body.missing).toEqual([])
      const t = (r.body.topics as TopicRow[]).find((row) => row.filter === 'sensors/sensor-1/#')
      expect(t).toMatchObject({ subscribers: 1, messages: 3, bytes: 9 })
      expect(t?.lastPublishAt).not.toBeNull()
      const page = await get(asked, topicPath('sensors/sensor-1/#'), { as: 'observer' })
      expect(page.body).toMatchObject({
        subscribers: 1, messages: 3, subscribedBy: [{ clientId: 'reader-on-a', username: 'dashboard', filter: 'sensors/#', worker: 'a' }]
      })
    }
    // published on worker A only: its rate, seen from B, is A's (sampled every 100 ms)
    const s2 = await client(a, 'sensor-2')
    for (let i = 0; i < 5; i++) await publish(s2, 'sensors/sensor-2/t', `r${i}`, { qos: 1 })
    await vi.waitFor(async () => {
      const r = await get(b, '/api/v1/topics', { as: 'observer' })
      const t = (r.body.topics as TopicRow[]).find((row) => row.filter === 'sensors/sensor-2/#')
      expect(t?.messages).toBe(5)
      expect(t?.messagesPerSecond).toBeGreaterThan(0)
    }, { timeout: 5000, interval: 50 })
  }, 20_000)

  it('/api/v1/denials: every worker\'s refusals, merged by time, each with its worker, totals and filters over them all', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const s1 = await client(a, 'sensor-1')
    const s2 = await client(b, 'sensor-2')
    // deniedPublish: drop — refused, audited, acknowledged
    await publish(s1, 'sensors/sensor-2/forged', 'x', { qos: 1 })
    await publish(s2, 'sensors/sensor-1/forged', 'y', { qos: 1 })
    await publish(s1, 'sensors/sensor-2/again', 'z', { qos: 1 })
    for (const asked of [b, a]) {
      const r = await get(asked, '/api/v1/denials', { as: 'observer' })
      expect(r.status).toBe(200)
      expect(r.body.missing).toEqual([])
      const recent = r.body.recent as Denial[]
      const pub = recent.filter((d) => d.topic?.endsWith('forged') || d.topic?.endsWith('again'))
      expect(pub.map((d) => `${d.worker} ${d.username} ${d.topic}`).sort()).toEqual([
        'a sensor-1 sensors/sensor-2/again', 'a sensor-1 sensors/sensor-2/forged', 'b sensor-2 sensors/sensor-1/forged'
      ])
      // oldest first, as alone
      expect(recent.map((d) => d.ts)).toEqual(recent.map((d) => d.ts).sort())
      expect(r.body.total).toBe(recent.length)
      expect(r.body.byUser['sensor-1']).toBe(recent.filter((d) => d.username === 'sensor-1').length)
      expect(r.body.byUser['sensor-2']).toBe(1)
      // the filters apply to every worker's refusals, the limit to the merged list
      const onlyS2 = (await get(asked, '/api/v1/denials?username=sensor-2', { as: 'observer' })).body.recent as Denial[]
      expect(onlyS2.map((d) => `${d.worker} ${d.topic}`)).toEqual(['b sensors/sensor-1/forged'])
      const byTopic = (await get(asked, `/api/v1/denials?topic=${encodeURIComponent('sensors/+/forged')}`, { as: 'observer' })).body.recent as Denial[]
      expect(byTopic.map((d) => d.worker).sort()).toEqual(['a', 'b'])
      const last = (await get(asked, '/api/v1/denials?limit=1', { as: 'observer' })).body.recent as Denial[]
      expect(last).toEqual([recent.at(-1)])
    }
  })

  it('a topic\'s recent messages, kept on each worker, are shown only as the asking account may read them', async () => {
    const [a, b] = await Promise.all([node('a', { dashboard: { recentMessages: 3 } }), node('b', { dashboard: { recentMessages: 3 } })])
    const s1 = await client(a, 'sensor-1')
    const s1b = await client(b, 'sensor-1')
    await publish(s1, 'sensors/sensor-1/t', 'from-a', { qos: 1 })
    await publish(s1b, 'sensors/sensor-1/t', 'from-b', { qos: 1 })
    const page = await get(b, topicPath('sensors/sensor-1/#'), { as: 'observer' })
    expect(page.body.recentMessages).toBe('on')
    expect(page.body.recent.map((m: { preview: string }) => m.preview)).toEqual(['from-a', 'from-b'])
    // an observer whose role no longer reads sensors/sensor-1/: nothing of it, from any worker
    expect((await patch(b, '/api/v1/roles/observer', { subscribe: ['sensors/sensor-2/#'] })).status).toBe(200)
    for (const asked of [b, a]) {
      await vi.waitFor(async () => {
        const hidden = await get(asked, topicPath('sensors/sensor-1/#'), { as: 'observer' })
        expect(hidden.body).toMatchObject({ recentMessages: 'not-allowed', recent: [] })
      }, { timeout: 5000, interval: 50 })
      expect((await get(asked, topicPath('sensors/sensor-1/#'), { as: 'admin' })).body.recent).toHaveLength(2)
    }
  })

  it('a worker that does not answer is named as missing by fleet, users, topics and denials, which answer with the rest', async () => {
    const a = await node('a')
    await client(a, 'sensor-1', 'still-here')
    const conn = new Redis(redis.url)
    scope.defer(() => conn.disconnect())
    await conn.zadd('warden:cluster-workers', Date.now() + 60_000, 'dead-worker')
    const [fleet, users, topics, denials] = await Promise.all([
      get(a, '/api/v1/fleet'), get(a, '/api/v1/users'), get(a, '/api/v1/topics'), get(a, '/api/v1/denials')
    ])
    for (const r of [fleet, users, topics, denials]) {
      expect(r.status).toBe(200)
      expect(r.body.missing).toEqual(['dead-worker'])
      expect(r.body.workers).toEqual(['a'])
    }
    expect((fleet.body.accounts as FleetRow[]).find((row) => row.username === 'sensor-1')?.clients).toEqual(['still-here'])
  })
})

describe('the CLI on a cluster, continued', () => {
  it('warden groups names each member\'s worker, fleet and denials the worker; a silent worker is named on stderr', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const m1 = await client(a, 'dashboard', 'member-a')
    const m2 = await client(b, 'dashboard', 'member-b')
    await subscribe(m1, '$share/readers/sensors/#', 1)
    await subscribe(m2, '$share/readers/sensors/#', 1)
    const s1 = await client(a, 'sensor-1', 'cli-s1')
    await publish(s1, 'sensors/sensor-2/forged', 'x', { qos: 1 })
    const env = { WARDEN_URL: httpUrl(b), WARDEN_ADMIN_USER: 'observer', WARDEN_ADMIN_PASSWORD: PASSWORD }

    const groups = await runCli(['groups'], { env })
    expect(groups.code).toBe(0)
    const [table = '', members = ''] = groups.stdout.split('\n\n')
    const rows = table.trim().split('\n')
    // one row per group, every worker's counts summed; each member with the worker it is connected to
    expect(rows[0]).toMatch(/^GROUP\s+FILTER\s+MEMBERS/)
    expect(rows.slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual(['readers sensors/# 2/2'])
    const memberRows = members.trim().split('\n')
    expect(memberRows[0]).toMatch(/^GROUP\s+FILTER\s+MEMBER\s+WORKER\s+QOS/)
    expect(memberRows.slice(1).map((l) => { const c = l.split(/\s+/); return `${c[2]} ${c[3]}` }))
      .toEqual(['member-a a', 'member-b b'])

    const fleet = await runCli(['fleet'], { env })
    expect(fleet.code).toBe(0)
    expect(fleet.stdout).toMatch(/^ACCOUNT\s+CONNECTED\s+WORKERS\s+LAST SEEN/)
    expect(fleet.stdout).toMatch(/^dashboard\s+2\s+a,b\s/m)
    expect(fleet.stdout).toMatch(/^sensor-1\s+1\s+a\s/m)
    expect(fleet.stdout).toMatch(/counted since .*, when the first worker started/)

    const denials = await runCli(['denials', '--account', 'sensor-1'], { env })
    expect(denials.code).toBe(0)
    expect(denials.stdout).toMatch(/^TIME\s+WORKER\s+KIND/)
    expect(denials.stdout).toMatch(/^\S+\s+a\s+publish\s+.*sensors\/sensor-2\/forged/m)

    const conn = new Redis(redis.url)
    scope.defer(() => conn.disconnect())
    await conn.zadd('warden:cluster-workers', Date.now() + 60_000, 'dead-worker')
    const partial = await Promise.all([runCli(['groups'], { env }), runCli(['fleet'], { env }), runCli(['denials'], { env })])
    for (const p of partial) {
      expect(p.code).toBe(0)
      expect(p.stderr).toMatch(/no answer from worker dead-worker: not shown/)
    }
  }, 30_000)
})
