// Sessions by client id in the control plane: the API, the CLI and the control topic list them and end them
// (an admin frees a client id); deleting an account frees its ids.
import { describe, expect, it } from 'vitest'
import { PASSWORD } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { del, get, httpUrl, post } from '../helpers/http.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
const intruder = (url: string, clientId: string): Promise<number> => connackCode(url, { username: 'sensor-2', password: PASSWORD, clientId, clean: false })
const WILL = { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1 as const, retain: true }

/** an offline persistent session of sensor-1 with `queued` QoS 1 messages waiting */
async function offlineSession (clientId: string, queued: number): Promise<void> {
  const c = await scope.client('sensor-1', { clientId, clean: false })
  await subscribe(c, 'devices/sensor-1/cmd/#', 1)
  await c.end()
  const admin = await scope.client('admin')
  for (let n = 1; n <= queued; n++) await publish(admin, `devices/sensor-1/cmd/${n}`, `c${n}`, { qos: 1 })
  await admin.end()
}

/** proves that nothing but `marker` reached the watcher: the will was not published */
async function expectNoWill (watcher: TestClient, marker: string): Promise<void> {
  const pub = await scope.client('sensor-1', { clientId: `marker-${marker}` })
  await publish(pub, 'sensors/sensor-1/marker', marker, { qos: 1 })
  await watcher.waitFor((m) => m.payload === marker)
  expect(watcher.messages.map((m) => m.payload)).not.toContain('offline')
}

describe('sessions API', () => {
  it('lists and shows sessions to observers; deleting one needs admin, ends it without its will and frees the id', async () => {
    const tb = await scope.start()
    await offlineSession('dev-s', 2)
    const watcher = await scope.client('dashboard')
    await subscribe(watcher, 'sensors/#', 1)
    const live = await scope.client('sensor-1', { clientId: 'dev-t', clean: false, will: WILL })

    const list = await get(tb, '/api/v1/sessions', { as: 'observer' })
    expect(list.status).toBe(200)
    expect(list.body.sessions).toEqual(expect.arrayContaining([
      expect.objectContaining({ clientId: 'dev-s', account: 'sensor-1', connected: false, clean: false, subscriptions: 1 }),
      expect.objectContaining({ clientId: 'dev-t', account: 'sensor-1', connected: true, clean: false })
    ]))
    expect((await get(tb, '/api/v1/sessions/dev-s')).body).toMatchObject({ clientId: 'dev-s', queued: 2 })
    expect((await get(tb, '/api/v1/sessions', { as: 'sensor-1' })).status).toBe(403)
    expect((await del(tb, '/api/v1/sessions/dev-t', { as: 'observer' })).status).toBe(403)
    expect(live.client.connected).toBe(true)

    expect((await del(tb, '/api/v1/sessions/dev-t')).status).toBe(204)
    await live.closed()
    await expectNoWill(watcher, 'm1')
    expect(await intruder(tb.url, 'dev-t')).toBe(0)

    expect((await del(tb, '/api/v1/sessions/dev-s')).status).toBe(204)
    expect((await get(tb, '/api/v1/sessions/dev-s')).status).toBe(404)
    expect((await del(tb, '/api/v1/sessions/dev-s')).status).toBe(404)
    // its subscriptions and queue went with it: the id's next session starts empty
    await scope.client('sensor-1', { clientId: 'dev-s', clean: false })
    expect((await get(tb, '/api/v1/sessions/dev-s')).body).toMatchObject({ account: 'sensor-1', connected: true, subscriptions: 0, queued: 0 })
  })

  it('deleting an account removes its sessions and frees its client ids', async () => {
    const tb = await scope.start()
    expect((await post(tb, '/api/v1/users', { username: 'temp-dev', password: 'temp-dev-secret', roles: ['producer'] })).status).toBe(201)
    const c = await scope.client('temp-dev', { clientId: 'dev-u', clean: false, password: 'temp-dev-secret' })
    await c.end()
    expect(await intruder(tb.url, 'dev-u')).toBe(2)
    expect((await del(tb, '/api/v1/users/temp-dev')).status).toBe(200)
    expect(await intruder(tb.url, 'dev-u')).toBe(0)
  })
})

describe('warden session', () => {
  it('ls, show and rm a session through the API', async () => {
    const tb = await scope.start()
    await offlineSession('dev-v', 1)
    const env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'admin', WARDEN_ADMIN_PASSWORD: PASSWORD }
    const ls = await runCli(['session', 'ls'], { env })
    expect(ls.code).toBe(0)
    expect(ls.stdout.split('\n')[0]).toMatch(/^CLIENT ID\s+ACCOUNT\s+CONNECTED\s+CLEAN\s+SUBSCRIPTIONS\s+SINCE$/)
    expect(ls.stdout).toMatch(/^dev-v\s+sensor-1\s+no\s+no\s+1\s/m)
    const show = await runCli(['session', 'show', 'dev-v', '--json'], { env })
    expect(JSON.parse(show.stdout)).toMatchObject({ clientId: 'dev-v', account: 'sensor-1', queued: 1 })
    expect((await runCli(['session', 'rm', 'dev-v'], { env: { ...env, WARDEN_ADMIN_USER: 'observer' } })).code).toBe(4)
    expect(await runCli(['session', 'rm', 'dev-v'], { env })).toMatchObject({ code: 0, stdout: 'removed session dev-v; the client id is free\n' })
    expect((await runCli(['session', 'show', 'dev-v'], { env })).code).toBe(1)
    expect(await intruder(tb.url, 'dev-v')).toBe(0)
  })
})

describe('control topic', () => {
  it('listSessions, getSession and deleteSession, for admins only', async () => {
    const tb = await scope.start()
    const watcher = await scope.client('dashboard')
    await subscribe(watcher, 'sensors/#', 1)
    const live = await scope.client('sensor-1', { clientId: 'dev-w', clean: false, will: WILL })
    const admin = await scope.client('admin')
    await subscribe(admin, '$CONTROL/warden/v1/response', 1)
    await publish(admin, '$CONTROL/warden/v1', JSON.stringify({
      commands: [
        { command: 'listSessions' }, { command: 'getSession', clientId: 'dev-w' },
        { command: 'deleteSession', clientId: 'dev-w' }, { command: 'getSession', clientId: 'dev-w' }
      ]
    }), { qos: 1 })
    const { responses } = JSON.parse((await admin.waitFor((m) => m.topic === '$CONTROL/warden/v1/response')).payload)
    expect(responses[0].data.sessions).toContainEqual(expect.objectContaining({ clientId: 'dev-w', account: 'sensor-1', connected: true }))
    expect(responses[1].data).toMatchObject({ clientId: 'dev-w', queued: 0 })
    expect(responses[2].data).toEqual({ clientId: 'dev-w', account: 'sensor-1' })
    expect(responses[3]).toMatchObject({ code: 'WARDEN_ERR_API_NOT_FOUND' })
    await live.closed()
    await expectNoWill(watcher, 'm2')
    expect(await intruder(tb.url, 'dev-w')).toBe(0)
  })
})
