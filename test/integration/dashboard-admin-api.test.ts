// What the dashboard's admin controls and fleet pages stand on, in the API and the CLI (issue 18, items 2
// and 3): registration warnings, kicking a client, the fleet, a topic's page (recent messages only when the
// config enables them and only for viewers who may read the topic), refusals filtered.
import { beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { del, get, httpUrl, patch, post, topicPath } from '../helpers/http.js'
import { publish, subscribe } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

describe('on a broker with recent messages off (the default)', () => {
  let tb: TestBroker
  beforeAll(async () => { tb = await scope.start() })

  it('warns, in the API and the CLI, when a registration takes part of a live owner\'s tree or names an unknown owner', async () => {
    const s1 = await scope.client('sensor-1')
    const r = await post(tb, '/api/v1/topics', { filter: 'sensors/sensor-1/door', owners: ['newbie'] })
    expect(r.status).toBe(201)
    expect(r.body.warnings).toEqual([
      { code: 'unknown-owner', owners: ['newbie'], message: expect.stringContaining('no account is called newbie') },
      {
        code: 'takes-from-owners', filter: 'sensors/sensor-1/#', owners: ['sensor-1'], connected: ['sensor-1'],
        message: 'sensor-1 owned sensors/sensor-1/door through sensors/sensor-1/# and may no longer publish there (connected now: sensor-1)'
      }
    ])
    // and it is so: the registration was made, sensor-1's publish there is refused now
    await publish(s1, 'sensors/sensor-1/door', 'open', { qos: 1 })
    await expect.poll(() => scope.count('publish:not-owner')).toBe(1)

    // a {username} registration: the account whose own subtree it cuts into is named
    const t = await post(tb, '/api/v1/topics', { filter: 'devices/sensor-2/telemetry/raw', owners: ['admin'] })
    expect(t.body.warnings).toEqual([])
    const u = await post(tb, '/api/v1/topics', { filter: 'devices/sensor-2/telemetry', owners: ['admin'] })
    expect(u.body.warnings).toEqual([
      expect.objectContaining({ code: 'takes-from-owners', filter: 'devices/{username}/telemetry', owners: ['sensor-2'], connected: [] })
    ])

    // changing owners is judged the same way; a wider registration takes nothing from narrower ones
    const m = await patch(tb, topicPath('sensors/sensor-1/door'), { owners: ['sensor-1'] })
    expect(m.body.warnings).toEqual([])
    expect((await post(tb, '/api/v1/topics', { filter: 'sensors/#', owners: ['admin'] })).body.warnings).toEqual([])

    const env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'admin', WARDEN_ADMIN_PASSWORD: PASSWORD }
    const cli = await runCli(['topic', 'register', 'sensors/sensor-2/door', '--owner', 'sensor-1', '--owner', 'ghost'], { env })
    expect(cli.code).toBe(0)
    expect(cli.stdout).toBe('registered sensors/sensor-2/door (owners: sensor-1, ghost)\n')
    expect(cli.stderr).toBe('warning: no account is called ghost: nobody can publish there under that name until an account of that name is created\n' +
      'warning: sensor-2 owned sensors/sensor-2/door through sensors/sensor-2/# and may no longer publish there\n')
    const json = await runCli(['topic', 'register', 'sensors/sensor-2/window', '--owner', 'ghost', '--json'], { env })
    expect(JSON.parse(json.stdout).warnings.map((w: { code: string }) => w.code)).toEqual(['unknown-owner', 'takes-from-owners'])
  })

  it('kicks a connected client (its session stays), for admins only, in the API and the CLI', async () => {
    const c = await scope.client('sensor-2', { clientId: 'kick-me', clean: false })
    const refused = await del(tb, '/api/v1/clients/kick-me', { as: 'observer' })
    expect(refused.status).toBe(403)
    const k = await del(tb, '/api/v1/clients/kick-me')
    expect(k).toMatchObject({ status: 200, body: { clientId: 'kick-me', account: 'sensor-2' } })
    await c.closed()
    expect((await get(tb, '/api/v1/sessions/kick-me')).body).toMatchObject({ clientId: 'kick-me', connected: false })
    expect((await del(tb, '/api/v1/clients/kick-me')).status).toBe(404)
    const d = await scope.client('sensor-2', { clientId: 'kick-me-too' })
    const env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'admin', WARDEN_ADMIN_PASSWORD: PASSWORD }
    const cli = await runCli(['client', 'kick', 'kick-me-too'], { env })
    expect(cli).toMatchObject({ code: 0, stdout: 'disconnected kick-me-too (account sensor-2); it may connect again\n' })
    await d.closed()
  })

  it('lists the fleet: one row per account with connected, last seen, messages, rate and last refusal', async () => {
    const s2 = await scope.client('sensor-2', { clientId: 'fleet-s2' })
    for (let i = 0; i < 3; i++) await publish(s2, 'sensors/sensor-2/temp', String(i), { qos: 1 })
    await publish(s2, 'sensors/sensor-1/temp', 'not mine', { qos: 1 })
    await expect.poll(async () => (await get(tb, '/api/v1/fleet')).body.accounts.find((a: { username: string }) => a.username === 'sensor-2')?.lastRefusal)
      .toMatchObject({ kind: 'publish', reason: 'not-owner', topic: 'sensors/sensor-1/temp' })
    const f = await get(tb, '/api/v1/fleet', { as: 'observer' })
    expect(f.status).toBe(200)
    expect(new Date(f.body.since).getTime()).toBeLessThanOrEqual(Date.now())
    const row = f.body.accounts.find((a: { username: string }) => a.username === 'sensor-2')
    expect(row).toMatchObject({ connected: true, clients: ['fleet-s2'], messages: 3, roles: ['producer'] })
    expect(Date.now() - new Date(row.lastPublishAt).getTime()).toBeLessThan(10_000)
    // the rate is sampled: it rises above 0 at the next sample
    await expect.poll(async () => (await get(tb, '/api/v1/fleet')).body.accounts.find((a: { username: string }) => a.username === 'sensor-2').messagesPerSecond,
      { timeout: 5000 }).toBeGreaterThan(0)
    // connected accounts first, then by name; at most `limit` of `total`
    expect(f.body.accounts.map((a: { username: string }) => a.username)).toEqual(['sensor-2', 'admin', 'dashboard', 'observer', 'sensor-1'])
    expect((await get(tb, '/api/v1/fleet?limit=2')).body).toMatchObject({ total: 5, accounts: [{ username: 'sensor-2' }, { username: 'admin' }] })
    // guessed names are no rows
    await get(tb, '/api/v1/status', { as: ['nobody-at-all', 'x'] })
    expect((await get(tb, '/api/v1/fleet')).body.accounts).toHaveLength(5)
    const env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'admin', WARDEN_ADMIN_PASSWORD: PASSWORD }
    const cli = await runCli(['fleet'], { env })
    expect(cli.code).toBe(0)
    expect(cli.stdout).toMatch(/^ACCOUNT\s+CONNECTED\s+LAST SEEN\s+MESSAGES\s+MSG\/S\s+LAST REFUSAL\n/)
    expect(cli.stdout).toMatch(/\nsensor-2\s+1\s+\S+\s+3\s+\S+\s+\S+ publish: not-owner sensors\/sensor-1\/temp\n/)
  })

  it('filters refusals by account, reason, kind and topic (an MQTT filter or a part of the topic)', async () => {
    const s1 = await scope.client('sensor-1')
    const s2 = await scope.client('sensor-2')
    await publish(s1, 'sensors/sensor-2/a', 'x', { qos: 1 })
    await publish(s2, 'sensors/sensor-1/b', 'x', { qos: 1 })
    await subscribe(s2, 'sensors/#', 0).catch(() => {})
    await expect.poll(() => scope.events.length).toBeGreaterThanOrEqual(3)
    const q = async (query: string): Promise<Array<{ username: string, topic: string, reason: string }>> =>
      (await get(tb, `/api/v1/denials?${query}`)).body.recent
    expect((await q('username=sensor-1')).every((e) => e.username === 'sensor-1')).toBe(true)
    expect((await q('username=sensor-1&topic=sensors%2Fsensor-2%2F%23')).map((e) => e.topic)).toEqual(['sensors/sensor-2/a'])
    expect((await q('topic=sensor-1%2Fb')).map((e) => e.username)).toEqual(['sensor-2'])
    expect((await q('reason=not-granted')).map((e) => e.topic)).toContain('sensors/#')
    expect(await q('reason=not-granted&kind=publish')).toEqual([])
    expect((await get(tb, '/api/v1/denials?username=1234')).status).toBe(200)
    const env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'admin', WARDEN_ADMIN_PASSWORD: PASSWORD }
    const cli = await runCli(['denials', '--account', 'sensor-2', '--topic', 'sensors/+/b', '--json'], { env })
    expect(JSON.parse(cli.stdout).recent.map((e: { topic: string }) => e.topic)).toEqual(['sensors/sensor-1/b'])
  })

  it('shows a topic\'s page: owners, subscribers, schema; no recent messages while the config does not keep them', async () => {
    const reader = await scope.client('dashboard', { clientId: 'reader-1' })
    await subscribe(reader, 'sensors/#', 0)
    const s1 = await scope.client('sensor-1')
    await publish(s1, 'sensors/sensor-1/temp', '21.5', { qos: 1 })
    const p = await get(tb, topicPath('sensors/sensor-1/#'), { as: 'observer' })
    expect(p.body).toMatchObject({
      filter: 'sensors/sensor-1/#', owners: ['sensor-1'], schema: null,
      subscribedBy: [{ clientId: 'reader-1', username: 'dashboard', filter: 'sensors/#' }],
      recentMessages: 'off', recent: []
    })
  })

  it('answers the same warnings, the fleet and kicks over the control topic', async () => {
    const admin = await scope.client('admin')
    const target = await scope.client('sensor-2', { clientId: 'kick-by-mqtt' })
    await subscribe(admin, '$CONTROL/warden/v1/response', 1)
    await publish(admin, '$CONTROL/warden/v1', JSON.stringify({
      commands: [
        { command: 'createTopic', filter: 'private/vault', owners: ['admin'] },
        { command: 'listFleet' },
        { command: 'kickClient', clientId: 'kick-by-mqtt' }
      ]
    }), { qos: 1 })
    const answer = JSON.parse((await admin.waitFor((m) => m.topic === '$CONTROL/warden/v1/response')).payload)
    expect(answer.responses[0].data.warnings).toEqual([expect.objectContaining({ code: 'takes-from-owners', filter: 'private/#', owners: ['sensor-1'] })])
    expect(answer.responses[1].data.accounts.map((a: { username: string }) => a.username)).toContain('sensor-2')
    expect(answer.responses[2].data).toEqual({ clientId: 'kick-by-mqtt', account: 'sensor-2' })
    await target.closed()
  })

  it('lists the registrations each account owns (what deleting it takes it off)', async () => {
    expect((await get(tb, '/api/v1/users/sensor-2')).body.owns).toEqual(['sensors/sensor-2/#', 'sensors/shared/#'])
  })
})

describe('on a broker keeping recent messages (dashboard.recentMessages: 3)', () => {
  it('shows them to viewers who may read the topic, and to nobody else', async () => {
    const tb = await scope.start({ config: { dashboard: { recentMessages: 3 } } })
    const s1 = await scope.client('sensor-1')
    for (const v of ['1', '2', '3', '4']) await publish(s1, 'sensors/sensor-1/temp', v, { qos: 1 })
    await new Promise<void>((resolve, reject) =>
      s1.client.publish('sensors/sensor-1/blob', Buffer.from([0, 1, 2, 255]), { qos: 1 }, (err) => err ? reject(err) : resolve()))
    const page = await get(tb, topicPath('sensors/sensor-1/#'), { as: 'observer' })
    expect(page.body.recentMessages).toBe('on')
    expect(page.body.recent.map((m: { preview: string }) => m.preview)).toEqual(['3', '4', 'AAEC/w=='])
    expect(page.body.recent[2]).toMatchObject({ topic: 'sensors/sensor-1/blob', encoding: 'base64', bytes: 4, qos: 1, retain: false, truncated: false })
    // an observer whose role no longer reads sensors/sensor-1/ sees that the page holds messages it may not see
    expect((await patch(tb, '/api/v1/roles/observer', { subscribe: ['sensors/sensor-2/#'] })).status).toBe(200)
    const hidden = await get(tb, topicPath('sensors/sensor-1/#'), { as: 'observer' })
    expect(hidden.body).toMatchObject({ recentMessages: 'not-allowed', recent: [] })
    expect((await get(tb, topicPath('sensors/sensor-1/#'), { as: 'admin' })).body.recent).toHaveLength(3)
    // a deleted registration's messages go with it
    expect((await del(tb, topicPath('sensors/sensor-1/#'))).status).toBe(204)
    expect((await post(tb, '/api/v1/topics', { filter: 'sensors/sensor-1/#', owners: ['sensor-1'] })).status).toBe(201)
    expect((await get(tb, topicPath('sensors/sensor-1/#'))).body.recent).toEqual([])
  })
})
