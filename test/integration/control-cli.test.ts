// The `warden` CLI end to end: a child process talking to a running broker's HTTP API.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { httpUrl } from '../helpers/http.js'
import { connackCode, publish } from '../helpers/mqtt.js'
import { freePort } from '../helpers/ports.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()
let tb: TestBroker
let dir: string
let env: Record<string, string>
beforeAll(async () => {
  tb = await scope.start()
  dir = await mkdtemp(join(tmpdir(), 'warden-cli-'))
  scope.defer(() => rm(dir, { recursive: true, force: true }))
  env = { WARDEN_URL: httpUrl(tb), WARDEN_ADMIN_USER: 'admin', WARDEN_ADMIN_PASSWORD: PASSWORD }
})

describe('warden user', () => {
  it('lists accounts as a table, or as JSON', async () => {
    const table = await runCli(['user', 'ls'], { env })
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^USERNAME\s+ROLES\s+LOOPBACK-ONLY\s+CONNECTIONS\s+OWNS$/)
    expect(lines).toContainEqual(expect.stringMatching(/^dashboard\s+consumer\s+no\s+0\s+-$/))
    const json = await runCli(['user', 'ls', '--json'], { env })
    expect(JSON.parse(json.stdout).users.map((u: { username: string }) => u.username)).toEqual(['sensor-1', 'sensor-2', 'dashboard', 'observer', 'admin'])
  })

  it('adds a user with the password from stdin, changes its roles and password, removes it', async () => {
    const add = await runCli(['user', 'add', 'frank', '--role', 'producer', '--role', 'consumer'], { env, stdin: 'frank-secret-1\n' })
    expect(add).toMatchObject({ code: 0, stdout: 'created user frank (roles: producer, consumer)\n' })
    expect(await connackCode(tb.url, { username: 'frank', password: 'frank-secret-1' })).toBe(0)
    expect((await runCli(['user', 'roles', 'frank', 'observer'], { env })).stdout).toBe('user frank now has roles: observer\n')
    expect(tb.broker.registry.user('frank')?.roles).toEqual(['observer'])
    expect((await runCli(['user', 'passwd', 'frank'], { env, stdin: 'frank-secret-2\n' })).code).toBe(0)
    expect(await connackCode(tb.url, { username: 'frank', password: 'frank-secret-2' })).toBe(0)
    const again = await runCli(['user', 'add', 'frank', '--role', 'producer'], { env, stdin: 'frank-secret-3\n' })
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/user "frank" exists already \(WARDEN_ERR_API_CONFLICT\)/)
    expect((await runCli(['user', 'rm', 'frank'], { env })).stdout).toBe('deleted user frank\n')
    const gone = await runCli(['user', 'rm', 'frank'], { env })
    expect(gone.code).toBe(1)
    expect(gone.stderr).toMatch(/does not exist \(WARDEN_ERR_API_NOT_FOUND\)/)
  })

  it('reads the admin password and then the new user\'s from stdin when the environment has none', async () => {
    const r = await runCli(['user', 'add', 'gina', '--role', 'consumer', '--json'], { env: { WARDEN_URL: httpUrl(tb) }, stdin: `${PASSWORD}\ngina-secret-1\n` })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ username: 'gina', roles: ['consumer'], loopbackOnly: false, connections: 0, owns: [] })
    expect(await connackCode(tb.url, { username: 'gina', password: 'gina-secret-1' })).toBe(0)
  })

  it('reports a field error with exit code 1', async () => {
    const r = await runCli(['user', 'add', 'hal', '--role', 'pilot'], { env, stdin: 'hal-secret-1\n' })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/roles\[0\]: role "pilot" is not defined/)
  })
})

describe('warden topic', () => {
  it('registers a topic with owners and a schema, lists it, updates it, removes it', async () => {
    const schema = join(dir, 'temp.schema.json')
    await writeFile(schema, JSON.stringify({ type: 'object', required: ['c'] }))
    const reg = await runCli(['topic', 'register', 'plant/+/temp', '--owner', 'sensor-1,sensor-2', '--schema', schema], { env })
    expect(reg).toMatchObject({ code: 0, stdout: 'registered plant/+/temp (owners: sensor-1, sensor-2; payload schema)\n' })
    const s1 = await scope.client('sensor-1')
    await publish(s1, 'plant/a/temp', '{"c":1}', { qos: 1 })
    await s1.end()
    const ls = await runCli(['topic', 'ls'], { env })
    expect(ls.stdout.split('\n')[0]).toMatch(/^FILTER\s+OWNERS\s+SCHEMA\s+SUBSCRIBERS\s+MESSAGES\s+MSG\/S\s+LAST PUBLISH$/)
    expect(ls.stdout).toMatch(/^plant\/\+\/temp\s+sensor-1,sensor-2\s+yes\s+0\s+1\s+\d+\.\d\s+\d{4}-/m)
    const dup = await runCli(['topic', 'register', 'plant/+/temp', '--owner', 'x'], { env })
    expect(dup.code).toBe(1)
    expect(dup.stderr).toContain('topic "plant/+/temp" is registered already: change it with `warden topic register … --update`')
    const upd = await runCli(['topic', 'register', 'plant/+/temp', '--owner', 'admin', '--update', '--json'], { env })
    expect(JSON.parse(upd.stdout)).toMatchObject({ filter: 'plant/+/temp', owners: ['admin'], schema: { type: 'object' } })
    expect((await runCli(['topic', 'rm', 'plant/+/temp'], { env })).code).toBe(0)
    expect(tb.broker.registry.topic('plant/+/temp')).toBeUndefined()
  })

  it('handles filters with # and templates', async () => {
    expect((await runCli(['topic', 'register', 'home/{username}/#', '--owner', '{username}'], { env })).code).toBe(0)
    expect(tb.broker.registry.topic('home/{username}/#')?.owners).toEqual(['{username}'])
    expect((await runCli(['topic', 'rm', 'home/{username}/#'], { env })).code).toBe(0)
  })
})

describe('warden role', () => {
  it('defines a role, lists it, changes its grants, refuses to remove it while held, removes it', async () => {
    const add = await runCli(['role', 'add', 'night-shift', '--read', 'plant/#', '--read', 'sensors/+/alarm'], { env })
    expect(add).toMatchObject({ code: 0, stdout: 'created role night-shift (reads: plant/#, sensors/+/alarm)\n' })
    const ls = await runCli(['role', 'ls'], { env })
    expect(ls.stdout.split('\n')[0]).toMatch(/^ROLE\s+READS\s+BUILT-IN\s+USERS$/)
    expect(ls.stdout).toMatch(/^night-shift\s+plant\/#,sensors\/\+\/alarm\s+no\s+0$/m)
    expect(ls.stdout).toMatch(/^consumer\s+sensors\/#\s+yes\s+\d+$/m)
    const set = await runCli(['role', 'set', 'night-shift', 'plant/+/status', '--json'], { env })
    expect(JSON.parse(set.stdout)).toEqual({ name: 'night-shift', subscribe: ['plant/+/status'], builtin: false, users: 0 })
    expect((await runCli(['user', 'roles', 'dashboard', 'consumer', 'night-shift'], { env })).code).toBe(0)
    const held = await runCli(['role', 'rm', 'night-shift'], { env })
    expect(held.code).toBe(1)
    expect(held.stderr).toMatch(/held by dashboard.*WARDEN_ERR_API_CONFLICT/)
    expect((await runCli(['user', 'roles', 'dashboard', 'consumer'], { env })).code).toBe(0)
    expect(await runCli(['role', 'rm', 'night-shift'], { env })).toMatchObject({ code: 0, stdout: 'deleted role night-shift\n' })
    expect(tb.broker.registry.role('night-shift')).toBeUndefined()
  })
})

describe('warden status', () => {
  it('summarises the broker, or prints the JSON', async () => {
    const r = await runCli(['status'], { env })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^broker\\s+${tb.broker.id}$`, 'm'))
    expect(r.stdout).toMatch(/^persistence\s+level \(registry: file, revision \d+\)$/m)
    expect(r.stdout).toMatch(/^messages\s+in \d+ \(\d+\.\d\/s\), out \d+/m)
    const j = JSON.parse((await runCli(['status', '--json'], { env })).stdout)
    expect(j).toMatchObject({ brokerId: tb.broker.id, persistence: 'level' })
  })
})

describe('failures', () => {
  it('exits 4 for wrong credentials and for a non-admin change', async () => {
    const bad = await runCli(['user', 'ls'], { env: { ...env, WARDEN_ADMIN_PASSWORD: 'wrong' } })
    expect(bad.code).toBe(4)
    expect(bad.stderr).toMatch(/WARDEN_ERR_API_UNAUTHORIZED/)
    const observer = await runCli(['user', 'rm', 'dashboard'], { env: { ...env, WARDEN_ADMIN_USER: 'observer' } })
    expect(observer.code).toBe(4)
    expect(observer.stderr).toMatch(/needs the admin role/)
    expect((await runCli(['user', 'ls'], { env: { ...env, WARDEN_ADMIN_USER: 'observer' } })).code).toBe(0)
  })

  it('exits 3 when no broker answers', async () => {
    const r = await runCli(['status'], { env: { ...env, WARDEN_URL: `http://127.0.0.1:${await freePort()}` } })
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/cannot reach the broker API .*ECONNREFUSED.*\(WARDEN_ERR_API_UNREACHABLE\)/)
  })

  it.each([
    [['user'], /warden user: needs a subcommand \(/],
    [['user', 'frob'], /unknown command: warden user frob/],
    [['user', 'add'], /expects exactly one user name/],
    [['user', 'ls', '--colour'], /unknown option --colour/],
    [['topic', 'register', 'a/b'], /needs at least one --owner/],
    [['topic', 'register', 'a/b', '--owner', 'x', '--schema', '/nonexistent.json'], /--schema \/nonexistent\.json: ENOENT/],
    [['status', 'extra'], /takes no arguments/],
    [['user', 'add', 'x', '--role', 'producer'], /no password for x on standard input/]
  ])('exits 2 with usage for %j', async (args, message) => {
    const r = await runCli(args, { env })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).toMatch(/WARDEN_ERR_USAGE/)
  })

  it('needs an admin password from somewhere', async () => {
    const r = await runCli(['user', 'ls'], { env: { WARDEN_URL: httpUrl(tb) } })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/set WARDEN_ADMIN_PASSWORD/)
  })
})
