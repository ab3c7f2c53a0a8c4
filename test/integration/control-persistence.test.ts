// The registry survives restarts and kill -9 (atomic writes), and the config file only seeds it.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { baseConfig, PASSWORD, startBroker, type TestBroker } from '../helpers/broker.js'
import { basic, del, get, patch, post, topicPath } from '../helpers/http.js'
import { connackCode } from '../helpers/mqtt.js'
import { startApp, type AppProcess } from '../helpers/process.js'
import { useScope } from '../helpers/scope.js'

let dir: string
const apps: AppProcess[] = []
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-registry-')) })
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')))
  await rm(dir, { recursive: true, force: true })
})
// registered after the hook above, so it runs before it: the broker closes before its dir is removed
const scope = useScope()

const start = (config: Record<string, unknown> = {}): Promise<TestBroker> => scope.start({ dataDir: dir, config })
const restart = (config: Record<string, unknown> = {}): Promise<TestBroker> => scope.restart({ config })

describe('restarts', () => {
  it('keeps every change made at run time, deletions of config entries included', async () => {
    let b = await start()
    await post(b, '/api/v1/users', { username: 'zed', password: 'zed-secret-1', roles: ['consumer'] })
    await post(b, '/api/v1/topics', { filter: 'z/#', owners: ['zed'], schema: { type: 'object' } })
    await patch(b, topicPath('private/#'), { owners: ['sensor-2'] })
    await patch(b, '/api/v1/users/dashboard', { roles: ['observer'] })
    await del(b, '/api/v1/users/sensor-2')
    await post(b, '/api/v1/roles', { name: 'night-shift', subscribe: ['z/#'] })
    await patch(b, '/api/v1/roles/consumer', { subscribe: ['z/+/alarm'] })
    b = await restart()
    expect(await connackCode(b.url, { username: 'zed', password: 'zed-secret-1' })).toBe(0)
    expect((await get(b, topicPath('z/#'))).body).toMatchObject({ owners: ['zed'], schema: { type: 'object' } })
    // the config file still says otherwise: the registry wins (sensor-2, its owner, was deleted since, which
    // took it off the registration: the registration stays, owned by nobody)
    expect((await get(b, topicPath('private/#'))).body.owners).toEqual([])
    expect((await get(b, '/api/v1/users/dashboard')).body.roles).toEqual(['observer'])
    expect(await connackCode(b.url, { username: 'sensor-2', password: PASSWORD })).toBe(4)
    expect((await get(b, '/api/v1/roles/night-shift')).body).toEqual({ name: 'night-shift', subscribe: ['z/#'], builtin: false, users: 0 })
    expect((await get(b, '/api/v1/roles/consumer')).body.subscribe).toEqual(['z/+/alarm'])
  })

  it('imports config entries it has never seen, and ignores changes to ones it imported before', async () => {
    let b = await start()
    const cfg = await baseConfig()
    const users = cfg.users as Array<Record<string, unknown>>
    const topics = cfg.topics as Array<Record<string, unknown>>
    b = await restart({
      users: [...users.map((u) => u.username === 'dashboard' ? { ...u, roles: ['admin'] } : u), { ...users[0], username: 'newcomer' }],
      topics: [...topics, { filter: 'new/#', owners: ['newcomer'] }]
    })
    expect((await get(b, '/api/v1/users/newcomer')).status).toBe(200)
    expect((await get(b, topicPath('new/#'))).body.owners).toEqual(['newcomer'])
    expect((await get(b, '/api/v1/users/dashboard')).body.roles).toEqual(['consumer'])
    const stored = JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8'))
    expect(stored.seeded.users).toContain('newcomer')
    expect(stored.revision).toBe(2)
  })

  it('does not import a config entry again after it was deleted at run time', async () => {
    let b = await start()
    await del(b, topicPath('private/#'))
    b = await restart()
    expect((await get(b, topicPath('private/#'))).status).toBe(404)
  })

  it('with persistence: memory, seeds from the config at every start and writes nothing', async () => {
    let b = await start({ persistence: 'memory' })
    await post(b, '/api/v1/topics', { filter: 'm/#', owners: ['x'] })
    expect((await get(b, '/api/v1/status')).body.registry.backend).toBe('memory')
    b = await restart({ persistence: 'memory' })
    expect((await get(b, topicPath('m/#'))).status).toBe(404)
    expect(await readdir(dir)).not.toContain('registry.json')
  })

  it('refuses to start on a corrupt registry, naming the file, and removes leftover temp files', async () => {
    await writeFile(join(dir, 'registry.json'), '{"format":1,"revision":')
    await expect(startBroker({ dataDir: dir }))
      .rejects.toMatchObject({ code: 'WARDEN_ERR_REGISTRY', message: expect.stringMatching(/registry\.json is not valid JSON/) })
    await writeFile(join(dir, 'registry.json'), JSON.stringify({
      format: 1, revision: 1, updatedAt: '', seeded: { users: [], topics: [] }, users: [{ username: 'x', roles: [] }], topics: []
    }))
    await expect(startBroker({ dataDir: dir }))
      .rejects.toMatchObject({ code: 'WARDEN_ERR_REGISTRY', message: expect.stringMatching(/users\[0\]\.passwordHash: is required/) })
    await rm(join(dir, 'registry.json'))
    await writeFile(join(dir, 'registry.json.123.1.tmp'), 'half a write')
    await start()
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
})

describe('kill -9', () => {
  async function brokerProcess (config: string): Promise<{ app: AppProcess, api: string }> {
    const app = startApp('broker', {
      WARDEN_CONFIG: config, WARDEN_MQTT_PORT: '0', WARDEN_HTTP_PORT: '0', WARDEN_DATA_DIR: join(dir, 'data'), WARDEN_LOG_LEVEL: 'info'
    })
    apps.push(app)
    await app.ready()
    const line = await app.waitForLog((l) => l.msg === 'control plane listening')
    return { app, api: `http://${String(line.http)}` }
  }
  const call = (api: string, method: string, path: string, body?: unknown): Promise<Response> => fetch(api + path, {
    method,
    headers: { authorization: basic('admin'), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })

  it('loses no acknowledged change and never corrupts the registry', async () => {
    const config = join(dir, 'warden.yaml')
    await writeFile(config, stringify({ ...(await baseConfig()), log: { level: 'info' } }))
    const acknowledged: string[] = []
    for (let round = 0; round < 3; round++) {
      const { app, api } = await brokerProcess(config)
      // a burst of changes; the process is killed as soon as the first is acknowledged, others in flight
      const burst = Array.from({ length: 8 }, (_, i) => `kill/${round}/${i}`)
      const replies = burst.map((filter) => call(api, 'POST', '/api/v1/topics', { filter, owners: ['sensor-1'] }).then((r) => {
        if (r.status === 201) acknowledged.push(filter)
        return r.status
      }, () => 0))
      await Promise.race(replies)
      await app.stop('SIGKILL')
      await Promise.all(replies)
      expect(acknowledged.length).toBeGreaterThan(round)
      apps.splice(apps.indexOf(app), 1)
    }
    const stored = JSON.parse(await readFile(join(dir, 'data', 'registry.json'), 'utf8'))
    const filters = stored.topics.map((t: { filter: string }) => t.filter)
    for (const f of acknowledged) expect(filters).toContain(f)
    const { api } = await brokerProcess(config)
    for (const f of acknowledged) expect((await call(api, 'GET', topicPath(f))).status, f).toBe(200)
    expect((await readdir(join(dir, 'data'))).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })
})
