// `warden registry export|import`: the whole registry to a file and back, checked entry by entry with the
// API's rules and applied all or nothing, admin-only and over HTTP only; and a broker switched to a store whose
// registry is empty while the other store holds one says so, naming both.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../../apps/broker/src/audit/audit.js'
import { stringify } from 'yaml'
import { baseConfig, PASSWORD, startBroker, type TestBroker } from '../helpers/broker.js'
import { adminCall, startBrokerProcess } from '../helpers/broker-process.js'
import { runCli } from '../helpers/cli.js'
import { get, httpUrl, post, request } from '../helpers/http.js'
import { connackCode, publish, subscribe } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import type { AppProcess } from '../helpers/process.js'
import { useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'

let dir: string
const apps: AppProcess[] = []
const brokers: TestBroker[] = []
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'warden-transfer-')) })
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()))
  await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')))
  await rm(dir, { recursive: true, force: true })
})
const scope = useScope()

const cliEnv = (b: TestBroker | string, user = 'admin'): Record<string, string> =>
  ({ WARDEN_URL: typeof b === 'string' ? b : httpUrl(b), WARDEN_ADMIN_USER: user, WARDEN_ADMIN_PASSWORD: PASSWORD })

/** a source broker with run-time changes of every kind: an account, a role, a registration with a schema, a deletion */
async function changedSource (): Promise<TestBroker> {
  const src = await scope.start()
  await post(src, '/api/v1/roles', { name: 'night-shift', subscribe: ['z/#'] })
  await post(src, '/api/v1/users', { username: 'zed', password: 'zed-secret-1', roles: ['producer', 'night-shift'] })
  await post(src, '/api/v1/topics', { filter: 'z/#', owners: ['zed'], schema: { type: 'object', required: ['v'] } })
  await request(src, 'DELETE', '/api/v1/users/sensor-2')
  return src
}

/** an empty broker (no config seeds but its admin) to import into */
async function emptyTarget (): Promise<TestBroker> {
  const base = await baseConfig()
  const t = await startBroker({ config: { users: (base.users as Array<{ username: string }>).filter((u) => u.username === 'admin'), topics: [] } })
  brokers.push(t)
  return t
}

describe('export and import', () => {
  it('carries accounts, roles, registrations and schemas to another broker, with hashes and no plain password', async () => {
    const src = await changedSource()
    const out = await runCli(['registry', 'export'], { env: cliEnv(src) })
    expect(out).toMatchObject({ code: 0, stderr: '' })
    expect(out.stdout).not.toContain('zed-secret-1')
    const doc = JSON.parse(out.stdout)
    expect(doc.users.find((u: { username: string }) => u.username === 'zed').passwordHash).toMatch(/^scrypt\$/)
    const file = join(dir, 'export.json')
    await writeFile(file, out.stdout)

    const dst = await emptyTarget()
    const imp = await runCli(['registry', 'import', file], { env: cliEnv(dst) })
    expect(imp.stderr).toBe('')
    // the target seeded its admin from its config: another id, so its clients (none here) are disconnected
    expect(imp).toMatchObject({
      code: 0,
      stdout: `imported ${file}: the registry now holds 5 users, 5 roles and 7 topics (revision 2)\n` +
        'accounts whose login changed: password hash, loopback rule or id (their clients were disconnected): admin\n'
    })
    expect(await connackCode(dst.url, { username: 'zed', password: 'zed-secret-1' })).toBe(0)
    expect(await connackCode(dst.url, { username: 'sensor-2', password: PASSWORD })).toBe(4)
    expect((await get(dst, '/api/v1/topics/z%2F%23')).body).toMatchObject({ owners: ['zed'], schema: { type: 'object', required: ['v'] } })
    expect((await get(dst, '/api/v1/roles/night-shift')).body).toMatchObject({ subscribe: ['z/#'], users: 1 })
    // the account is the same account (its id travels): not a new one under an old name
    expect(dst.broker.registry.user('zed')?.id).toBe(src.broker.registry.user('zed')?.id)
    // the source had imported sensor-2 from its config file and deleted it since: the target's config must not bring it back
    expect(dst.broker.registry.state.seeded.users).toContain('sensor-2')
  })

  it('refuses an export with one bad entry as a whole, naming the entry, and changes nothing', async () => {
    const src = await changedSource()
    const doc = (await get(src, '/api/v1/registry')).body
    const dst = await emptyTarget()
    const before = dst.broker.registry.state
    const cases: Array<[(d: any) => void, string, RegExp]> = [
      [(d) => { d.users[1].roles.push('pilot') }, 'users[1].roles[1]', /role "pilot" is not defined under roles .*\(user "dashboard"\)/],
      [(d) => { d.topics.push({ filter: '$SYS/mine/#', owners: ['zed'] }) }, 'topics[7].filter',
        /\$SYS topics belong to the broker .*\(topic "\$SYS\/mine\/#"\)/],
      [(d) => { d.topics[0].owners = ['{username}'] }, 'topics[0].owners[0]', /needs a \{username\} level/],
      [(d) => { d.topics[5].schema = { type: 'objekt' } }, 'topics[5].schema', /not a usable JSON Schema/],
      [(d) => { d.users[2].passwordHash = 'hunter2' }, 'users[2].passwordHash', /\(user "observer"\)/],
      [(d) => { d.users.push({ ...d.users[0] }) }, 'users[5].username', /user "sensor-1" is given twice/],
      [(d) => { d.roles[0].subscribe = ['a/#/b'] }, 'roles[0].subscribe[0]', /\(role "producer"\)/],
      [(d) => { d.users[0].password = 'plain' }, 'users[0].password', /not a known field/],
      [(d) => { d.users = d.users.filter((u: { roles: string[] }) => !u.roles.includes('admin')) }, 'users', /no account holds the admin role/]
    ]
    for (const [spoil, field, message] of cases) {
      const bad = structuredClone(doc)
      spoil(bad)
      const r = await request(dst, 'PUT', '/api/v1/registry', { body: bad })
      expect(r.status, field).toBe(400)
      expect(r.body.error.field, JSON.stringify(r.body)).toBe(field)
      expect(r.body.error.message).toMatch(message)
    }
    expect(dst.broker.registry.state).toBe(before)
    // the CLI says the same, with exit code 1
    const file = join(dir, 'bad.json')
    const bad = structuredClone(doc)
    bad.users[1].roles.push('pilot')
    await writeFile(file, JSON.stringify(bad))
    const r = await runCli(['registry', 'import', file], { env: cliEnv(dst) })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^warden registry import: users\[1\]\.roles\[1\]: role "pilot" is not defined under roles .*\(WARDEN_ERR_UNKNOWN_ROLE\)\n$/)
  })
})

describe('what an import disconnects', () => {
  const WILL = { topic: 'sensors/sensor-1/status', payload: Buffer.from('offline'), qos: 1 as const, retain: false }
  const willRefusals = (): AuditEvent[] => scope.events.filter((e) => e.kind === 'will' && e.clientId === 'device-1')

  // the README's path: a broker switched to a new store seeds the config's accounts anew (new ids, new salts),
  // so the source's accounts replace them, and their clients, told nothing, must at least be named
  it('names the accounts whose login it changed or that it removed, and their refused wills say why, not "deleted"', async () => {
    const src = await scope.startAnother()
    await request(src, 'DELETE', '/api/v1/users/sensor-2')
    const file = join(dir, 'export.json')
    await writeFile(file, JSON.stringify((await get(src, '/api/v1/registry')).body))

    const dst = await scope.start()
    const device = await scope.client('sensor-1', { clientId: 'device-1', will: WILL })
    const imp = await runCli(['registry', 'import', file], { env: cliEnv(dst) })
    expect(imp.stderr).toBe('')
    expect(imp.stdout.split('\n').slice(1)).toEqual([
      'accounts whose login changed: password hash, loopback rule or id (their clients were disconnected): sensor-1, dashboard, observer, admin',
      'accounts removed (their clients were disconnected): sensor-2',
      ''
    ])
    await device.closed()
    await waitUntil(() => willRefusals().length > 0 ? true : undefined, 'the will refused')
    expect(willRefusals()).toMatchObject([{
      reason: 'not-authorized', username: 'sensor-1',
      detail: 'the account that set the will was replaced by another of its name (deleted and created again, or a registry import)'
    }])
    const json = await runCli(['registry', 'import', file, '--json'], { env: cliEnv(dst) })
    // imported again: the same ids and hashes, nobody disconnected
    expect(JSON.parse(json.stdout)).toMatchObject({ users: 4, loginChanged: [], removed: [] })
  })

  it('says a will was refused for a changed password, not for a deleted account', async () => {
    const tb = await scope.start()
    const device = await scope.client('sensor-1', { clientId: 'device-1', will: WILL })
    expect((await request(tb, 'PATCH', '/api/v1/users/sensor-1', { body: { password: 'another-secret-1' } })).status).toBe(200)
    await device.closed()
    await waitUntil(() => willRefusals().length > 0 ? true : undefined, 'the will refused')
    expect(willRefusals())
      .toMatchObject([{ username: 'sensor-1', detail: 'the login of the account that set the will changed (its password or loopback rule)' }])
  })
})

describe('who may', () => {
  // a non-admin holding an export (or writing one) would import an account of its own with the admin role,
  // or its own hash on the admin account; an observer reading one would take every hash offline to guess
  it('refuses export and import to every non-admin account, and changes nothing', async () => {
    const tb = await scope.start()
    const doc = (await get(tb, '/api/v1/registry')).body
    const mine = structuredClone(doc)
    for (const u of mine.users) if (u.username !== 'admin') u.roles = ['admin']
    const before = tb.broker.registry.state
    for (const who of ['observer', 'sensor-1', 'dashboard']) {
      const exp = await get(tb, '/api/v1/registry', { as: who })
      expect(exp.status, who).toBe(403)
      expect(JSON.stringify(exp.body)).not.toContain('scrypt$')
      expect((await request(tb, 'PUT', '/api/v1/registry', { as: who, body: mine })).status, who).toBe(403)
    }
    expect((await request(tb, 'PUT', '/api/v1/registry', { as: null, body: mine })).status).toBe(401)
    expect(tb.broker.registry.state).toBe(before)
    const r = await runCli(['registry', 'export'], { env: cliEnv(tb, 'observer') })
    expect(r.code).toBe(4)
    expect(r.stdout).toBe('')
  })

  it('refuses both over the control topic, even to an admin: its answers would carry hashes through MQTT', async () => {
    const tb = await scope.start()
    const doc = (await get(tb, '/api/v1/registry')).body
    const admin = await scope.client('admin')
    await subscribe(admin, '$CONTROL/warden/v1/response', 1)
    const before = tb.broker.registry.state
    await publish(admin, '$CONTROL/warden/v1', JSON.stringify({ commands: [{ command: 'exportRegistry' }, { command: 'importRegistry', ...doc }] }), { qos: 1 })
    const m = await admin.waitFor((x) => x.topic === '$CONTROL/warden/v1/response', 'control response')
    expect(m.payload).not.toContain('scrypt$')
    const { responses } = JSON.parse(m.payload)
    expect(responses.map((x: { code: string }) => x.code)).toEqual(['WARDEN_ERR_API_FORBIDDEN', 'WARDEN_ERR_API_FORBIDDEN'])
    expect(tb.broker.registry.state).toBe(before)
  })
})

describe('switching stores', () => {
  const redis = useSharedRedis()

  const startNode = async (env: Record<string, string>): Promise<{ app: AppProcess, http: string, url: string }> => {
    const config = join(dir, 'warden.yaml')
    await writeFile(config, stringify(await baseConfig()))
    const node = await startBrokerProcess({ WARDEN_CONFIG: config, WARDEN_DATA_DIR: join(dir, 'data'), ...env })
    apps.push(node.app)
    return node
  }
  const warnings = (app: AppProcess): string[] => app.output.filter((l) => l.includes('"level":40') && l.includes('is empty, but'))

  it('level → redis: warns naming both stores, and an export of one imported into the other carries the registry over', async () => {
    const level = await startNode({})
    expect(warnings(level.app)).toEqual([])
    expect(await adminCall(level.http, 'POST', '/api/v1/users', { username: 'zed', password: 'zed-secret-1', roles: ['producer'] })).toBe(201)
    const exported = await runCli(['registry', 'export'], { env: cliEnv(level.http) })
    const file = join(dir, 'registry-export.json')
    await writeFile(file, exported.stdout)
    await level.app.stop()
    apps.splice(apps.indexOf(level.app), 1)

    const onRedis = await startNode({ WARDEN_PERSISTENCE: 'redis', WARDEN_REDIS_URL: redis.url })
    const [line] = warnings(onRedis.app)
    const warning = JSON.parse(line ?? '{}').msg as string
    expect(warning).toContain(`the registry of persistence: redis (${redis.url} warden:registry) is empty, ` +
      `but persistence: level holds one (${join(dir, 'data', 'registry.json')}: revision 2, 6 users`)
    expect(warning).toContain('`warden registry export > registry-export.json`')
    expect(await connackCode(onRedis.url, { username: 'zed', password: 'zed-secret-1' })).toBe(4)
    expect((await runCli(['registry', 'import', file], { env: cliEnv(onRedis.http) })).code).toBe(0)
    expect(await connackCode(onRedis.url, { username: 'zed', password: 'zed-secret-1' })).toBe(0)
    // the registry is no longer empty: no warning at the next start
    await onRedis.app.stop()
    apps.splice(apps.indexOf(onRedis.app), 1)
    const again = await startNode({ WARDEN_PERSISTENCE: 'redis', WARDEN_REDIS_URL: redis.url })
    expect(warnings(again.app)).toEqual([])
  })

  it('redis → level: warns when the config names the Redis that holds a registry', async () => {
    const onRedis = await startNode({ WARDEN_PERSISTENCE: 'redis', WARDEN_REDIS_URL: redis.url })
    expect(warnings(onRedis.app)).toEqual([])
    await onRedis.app.stop()
    apps.splice(apps.indexOf(onRedis.app), 1)
    const level = await startNode({ WARDEN_REDIS_URL: redis.url, WARDEN_PERSISTENCE: 'level' })
    expect(JSON.parse(warnings(level.app)[0] ?? '{}').msg).toMatch(new RegExp(
      /^the registry of persistence: level \(.*registry\.json\) is empty, /.source +
      /but persistence: redis holds one \(redis:\/\/127\.0\.0\.1:\d+ warden:registry: revision 1, 5 users/.source
    ))
  })
})
