// The HTTP admin API against a running broker: every call, its auth failures, and bad input.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { basic, del, get, patch, post, request, topicPath } from '../helpers/http.js'
import { connackCode, publish, subscribe, type TestClient } from '../helpers/mqtt.js'
import { waitUntil } from '../helpers/ports.js'
import { useScope } from '../helpers/scope.js'
import { openEvents, type SseEvent } from '../helpers/sse.js'

const scope = useScope()
let tb: TestBroker
// failed logins are throttled (tested below with a broker of its own); here they must not slow the tests
beforeAll(async () => { tb = await scope.start({ config: { stats: { intervalMs: 100, sysIntervalMs: 60000 }, limits: { login: { delayMs: 0 } } } }) })

/** clients for `fn`, ended when it returns (the scope ends them too should one fail to connect) */
async function withClients<T> (users: string[], fn: (clients: TestClient[]) => Promise<T>): Promise<T> {
  const clients = await Promise.all(users.map((u) => scope.client(u)))
  try { return await fn(clients) } finally { await Promise.all(clients.map((c) => c.end())) }
}

describe('authentication and roles', () => {
  it.each([
    ['GET', '/api/v1/users'], ['POST', '/api/v1/users'], ['GET', '/api/v1/status'], ['GET', '/metrics'],
    ['GET', '/api/v1/events'], ['DELETE', '/api/v1/topics/x']
  ])('%s %s without credentials: 401 with a Basic challenge', async (method, path) => {
    const r = await request(tb, method, path, { as: null })
    expect(r.status).toBe(401)
    expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm="warden"/)
    expect(r.body.error.code).toBe('WARDEN_ERR_API_UNAUTHORIZED')
  })

  it.each([
    ['a wrong password', ['admin', 'wrong-password']],
    ['an unknown user', ['nobody', PASSWORD]],
    ['an empty user name', ['', PASSWORD]]
  ] as const)('refuses %s with 401', async (_what, creds) => {
    const r = await get(tb, '/api/v1/users', { as: [...creds] })
    expect(r.status).toBe(401)
    expect(r.body.error.code).toBe('WARDEN_ERR_API_UNAUTHORIZED')
  })

  it('gives an unknown user and a wrong password the same 401 body, the cause only to the audit', async () => {
    const unknown = await get(tb, '/api/v1/users', { as: ['nobody', PASSWORD] })
    const wrong = await get(tb, '/api/v1/users', { as: ['admin', 'wrong-password'] })
    expect([unknown.status, wrong.status]).toEqual([401, 401])
    expect(unknown.body).toEqual(wrong.body)
    expect(JSON.stringify(wrong.body)).not.toMatch(/unknown user|wrong password/)
    const recent = (await get(tb, '/api/v1/denials', { as: 'observer' })).body.recent
    expect(recent.slice(-2).map((e: { detail: string }) => e.detail)).toEqual(['HTTP API: unknown user', 'HTTP API: wrong password'])
  })

  it('throttles failed logins (429 with Retry-After once locked) and audits them', async () => {
    const own = await scope.startAnother({ config: { limits: { login: { maxFailuresPerUserAddress: 3, delayMs: 50, maxDelayMs: 50, lockoutMs: 60_000 } } } })
    const started = Date.now()
    for (let i = 0; i < 3; i++) expect((await get(own, '/api/v1/status', { as: ['admin', 'guess-' + i] })).status).toBe(401)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    const locked = await get(own, '/api/v1/status', { as: 'admin' })
    expect(locked.status).toBe(429)
    expect(locked.body.error.code).toBe('WARDEN_ERR_API_THROTTLED')
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(50)
    // other accounts are not locked out by one account's guesses
    expect((await get(own, '/api/v1/status', { as: 'observer' })).status).toBe(200)
    expect(own.broker.audit.counts.get('connect:bad-credentials')).toBe(3)
    const recent = (await get(own, '/api/v1/denials', { as: 'observer' })).body.recent
    expect(recent.findLast((e: { reason: string }) => e.reason === 'bad-credentials'))
      .toMatchObject({ kind: 'connect', username: 'admin', detail: 'HTTP API: wrong password' })
    expect(recent.at(-1)).toMatchObject({
      kind: 'connect', reason: 'login-throttled', username: 'admin', detail: expect.stringMatching(/^HTTP API: too many failed logins/) as unknown
    })
    expect(JSON.stringify(recent)).not.toContain('guess-')
    // a request without credentials (a browser's first try) is not a failed login
    await get(own, '/api/v1/status', { as: null })
    expect(own.broker.audit.counts.get('connect:bad-credentials')).toBe(3)
  })

  it('refuses a malformed Authorization header with 401', async () => {
    const r = await get(tb, '/api/v1/users', { as: null, headers: { authorization: 'Bearer abc' } })
    expect(r.status).toBe(401)
  })

  it('gives a consumer or producer 403 for reading and for changing', async () => {
    for (const user of ['dashboard', 'sensor-1']) {
      expect((await get(tb, '/api/v1/topics', { as: user })).status).toBe(403)
      const w = await post(tb, '/api/v1/topics', { filter: 'x/#', owners: ['a'] }, { as: user })
      expect(w.status).toBe(403)
      expect(w.body.error.code).toBe('WARDEN_ERR_API_FORBIDDEN')
      expect((await get(tb, '/metrics', { as: user })).status).toBe(403)
    }
  })

  it('lets an observer read everything and change nothing', async () => {
    const paths = ['/api/v1/users', '/api/v1/roles', '/api/v1/topics', '/api/v1/clients', '/api/v1/status', '/api/v1/denials', '/metrics', '/dashboard/']
    for (const path of paths) {
      expect((await get(tb, path, { as: 'observer' })).status, path).toBe(200)
    }
    expect((await post(tb, '/api/v1/users', { username: 'x', password: 'long-enough', roles: [] }, { as: 'observer' })).status).toBe(403)
    expect((await patch(tb, '/api/v1/users/dashboard', { roles: [] }, { as: 'observer' })).status).toBe(403)
    expect((await del(tb, topicPath('private/#'), { as: 'observer' })).status).toBe(403)
    expect((await get(tb, '/api/v1/users/dashboard')).body.roles).toEqual(['consumer'])
  })

  it('serves the dashboard\'s files, which hold no data, without credentials: the page signs in itself', async () => {
    const r = await request(tb, 'GET', '/dashboard/', { as: null })
    expect(r.status).toBe(200)
    expect(r.headers.get('www-authenticate')).toBeNull()
    expect((await request(tb, 'GET', '/dashboard/login.html', { as: null })).status).toBe(200)
  })

  it('answers the probes without credentials', async () => {
    expect(await get(tb, '/healthz', { as: null })).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect(await get(tb, '/readyz', { as: null })).toMatchObject({ status: 200, body: { status: 'ready' } })
  })

  it('refuses a change sent cross-site by a browser', async () => {
    const r = await post(tb, '/api/v1/users', { username: 'csrf', password: 'long-enough', roles: ['admin'] }, { headers: { origin: 'http://evil.example' } })
    expect(r.status).toBe(403)
    const r2 = await del(tb, '/api/v1/users/dashboard', { headers: { 'sec-fetch-site': 'cross-site' } })
    expect(r2.status).toBe(403)
    expect((await get(tb, '/api/v1/users/csrf')).status).toBe(404)
  })

  it('sends security headers', async () => {
    const r = await get(tb, '/api/v1/status')
    expect(r.headers.get('x-content-type-options')).toBe('nosniff')
    expect(r.headers.get('x-frame-options')).toBe('DENY')
    expect(r.headers.get('content-type')).toMatch(/^application\/json/)
  })
})

describe('users', () => {
  it('lists accounts without their password hashes', async () => {
    const r = await get(tb, '/api/v1/users')
    expect(r.status).toBe(200)
    expect(r.body.users.map((u: { username: string }) => u.username)).toEqual(['sensor-1', 'sensor-2', 'dashboard', 'observer', 'admin'])
    expect(r.body.users[0]).toEqual({
      username: 'sensor-1', roles: ['producer'], loopbackOnly: false, connections: 0, owns: ['sensors/sensor-1/#', 'sensors/shared/#', 'private/#']
    })
    expect(JSON.stringify(r.body)).not.toMatch(/scrypt|passwordHash/)
  })

  it('creates a user whose password is hashed on arrival, who can then connect', async () => {
    const r = await post(tb, '/api/v1/users', { username: 'carol', password: 'carol-secret', roles: ['consumer'] })
    expect(r.status).toBe(201)
    expect(r.body).toEqual({ username: 'carol', roles: ['consumer'], loopbackOnly: false, connections: 0, owns: [] })
    const stored = await readFile(join(tb.dataDir, 'registry.json'), 'utf8')
    expect(stored).not.toContain('carol-secret')
    expect(JSON.parse(stored).users.find((u: { username: string }) => u.username === 'carol').passwordHash).toMatch(/^scrypt\$/)
    expect(await connackCode(tb.url, { username: 'carol', password: 'carol-secret' })).toBe(0)
    expect(await connackCode(tb.url, { username: 'carol', password: 'wrong' })).toBe(4)
    const got = await get(tb, '/api/v1/users/carol')
    expect(got).toMatchObject({ status: 200, body: { username: 'carol', roles: ['consumer'] } })
    expect((await post(tb, '/api/v1/users', { username: 'carol', password: 'other-secret', roles: [] })).status).toBe(409)
  })

  it('accepts a ready-made passwordHash', async () => {
    const { fastHash } = await import('../helpers/broker.js')
    const r = await post(tb, '/api/v1/users', { username: 'hashed', passwordHash: await fastHash('hashed-secret'), roles: [], loopbackOnly: true })
    expect(r).toMatchObject({ status: 201, body: { loopbackOnly: true } })
    expect(await connackCode(tb.url, { username: 'hashed', password: 'hashed-secret' })).toBe(0)
  })

  it('changes roles, password and loopbackOnly; an old password stops working', async () => {
    await post(tb, '/api/v1/users', { username: 'dave', password: 'dave-secret-1', roles: [] })
    const r = await patch(tb, '/api/v1/users/dave', { roles: ['observer', 'producer'], password: 'dave-secret-2' })
    expect(r).toMatchObject({ status: 200, body: { username: 'dave', roles: ['observer', 'producer'] } })
    expect(await connackCode(tb.url, { username: 'dave', password: 'dave-secret-1' })).toBe(4)
    expect(await connackCode(tb.url, { username: 'dave', password: 'dave-secret-2' })).toBe(0)
    expect((await get(tb, '/api/v1/users', { as: ['dave', 'dave-secret-2'] })).status).toBe(200)
  })

  it('deletes a user; a second delete is 404', async () => {
    await post(tb, '/api/v1/users', { username: 'erin', password: 'erin-secret', roles: [] })
    const r = await del(tb, '/api/v1/users/erin')
    expect(r).toMatchObject({ status: 200, body: { username: 'erin', removedFrom: [] } })
    expect((await get(tb, '/api/v1/users/erin')).status).toBe(404)
    expect(await del(tb, '/api/v1/users/erin')).toMatchObject({ status: 404, body: { error: { code: 'WARDEN_ERR_API_NOT_FOUND' } } })
  })

  it('refuses to remove the last admin, by deletion or by a role change', async () => {
    const d = await del(tb, '/api/v1/users/admin')
    expect(d).toMatchObject({ status: 409, body: { error: { code: 'WARDEN_ERR_API_CONFLICT' } } })
    expect(d.body.error.message).toMatch(/no admin/)
    expect((await patch(tb, '/api/v1/users/admin', { roles: ['observer'] })).status).toBe(409)
    expect((await get(tb, '/api/v1/users/admin')).body.roles).toEqual(['admin'])
  })

  it('forgets a cached API login when the account changes', async () => {
    await post(tb, '/api/v1/users', { username: 'root2', password: 'root2-secret', roles: ['admin'] })
    expect((await get(tb, '/api/v1/status', { as: ['root2', 'root2-secret'] })).status).toBe(200)
    await patch(tb, '/api/v1/users/root2', { password: 'root2-secret-new' })
    expect((await get(tb, '/api/v1/status', { as: ['root2', 'root2-secret'] })).status).toBe(401)
    await patch(tb, '/api/v1/users/root2', { roles: ['observer'] })
    expect((await post(tb, '/api/v1/topics', { filter: 'r/#', owners: ['x'] }, { as: ['root2', 'root2-secret-new'] })).status).toBe(403)
    await del(tb, '/api/v1/users/root2')
    expect((await get(tb, '/api/v1/status', { as: ['root2', 'root2-secret-new'] })).status).toBe(401)
  })
})

describe('topic registrations', () => {
  it('lists registrations with their owners and counters', async () => {
    const r = await get(tb, '/api/v1/topics')
    expect(r.status).toBe(200)
    expect(r.body.topics).toContainEqual({
      filter: 'sensors/shared/#', owners: ['sensor-1', 'sensor-2'], schema: null,
      subscribers: 0, messages: 0, bytes: 0, messagesPerSecond: 0, lastPublishAt: null
    })
  })

  it('creates, reads, updates and deletes a registration', async () => {
    const schema = { type: 'object', required: ['v'], properties: { v: { type: 'number' } } }
    const c = await post(tb, '/api/v1/topics', { filter: 'fleet/+/cmd', owners: ['sensor-1'], schema })
    expect(c).toMatchObject({ status: 201, body: { filter: 'fleet/+/cmd', owners: ['sensor-1'], schema } })
    expect((await get(tb, topicPath('fleet/+/cmd'))).body.owners).toEqual(['sensor-1'])
    // an unencoded filter spanning several path segments works too ('#' must be encoded)
    expect((await get(tb, '/api/v1/topics/fleet/+/cmd')).status).toBe(200)
    const u = await patch(tb, topicPath('fleet/+/cmd'), { owners: ['sensor-2', 'admin'] })
    expect(u).toMatchObject({ status: 200, body: { owners: ['sensor-2', 'admin'], schema } })
    const u2 = await patch(tb, topicPath('fleet/+/cmd'), { schema: null })
    expect(u2.body.schema).toBeNull()
    expect((await post(tb, '/api/v1/topics', { filter: 'fleet/+/cmd', owners: ['x'] })).status).toBe(409)
    expect((await del(tb, topicPath('fleet/+/cmd'))).status).toBe(204)
    expect((await get(tb, topicPath('fleet/+/cmd'))).status).toBe(404)
    expect((await patch(tb, topicPath('fleet/+/cmd'), { owners: ['x'] })).status).toBe(404)
  })

  it('registers a template filter with a {username} owner', async () => {
    const r = await post(tb, '/api/v1/topics', { filter: 'homes/{username}/#', owners: ['{username}'] })
    expect(r.status).toBe(201)
    await withClients(['sensor-1', 'observer'], async ([s1, obs]) => {
      await subscribe(obs!, 'homes/#', 1)
      await publish(s1!, 'homes/sensor-1/door', 'open', { qos: 1 })
      await obs!.waitFor((m) => m.payload === 'open')
    })
    await del(tb, topicPath('homes/{username}/#'))
  })
})

describe('roles', () => {
  it('lists the built-in roles and the defined ones with their grants and holders', async () => {
    const r = await get(tb, '/api/v1/roles')
    expect(r.status).toBe(200)
    const users = (await get(tb, '/api/v1/users')).body.users as Array<{ roles: string[] }>
    const holders = (role: string): number => users.filter((u) => u.roles.includes(role)).length
    expect(holders('consumer')).toBeGreaterThan(0)
    expect(r.body.roles).toContainEqual({ name: 'consumer', subscribe: ['sensors/#'], builtin: true, users: holders('consumer') })
    expect(r.body.roles).toContainEqual({ name: 'admin', subscribe: [], builtin: true, users: holders('admin') })
    expect((await get(tb, '/api/v1/roles/producer')).body)
      .toEqual({ name: 'producer', subscribe: ['devices/{username}/cmd/#'], builtin: true, users: holders('producer') })
  })

  it('creates, reads, changes and deletes a role', async () => {
    const c = await post(tb, '/api/v1/roles', { name: 'fleet-ops', subscribe: ['fleet/#', 'devices/+/telemetry'] })
    expect(c).toMatchObject({ status: 201, body: { name: 'fleet-ops', subscribe: ['fleet/#', 'devices/+/telemetry'], builtin: false, users: 0 } })
    expect((await post(tb, '/api/v1/roles', { name: 'fleet-ops', subscribe: [] })).status).toBe(409)
    expect((await patch(tb, '/api/v1/roles/fleet-ops', { subscribe: ['fleet/+/status'] })).body.subscribe).toEqual(['fleet/+/status'])
    expect((await del(tb, '/api/v1/roles/fleet-ops')).status).toBe(204)
    expect((await get(tb, '/api/v1/roles/fleet-ops')).status).toBe(404)
    expect((await patch(tb, '/api/v1/roles/fleet-ops', { subscribe: [] })).status).toBe(404)
    const builtin = await del(tb, '/api/v1/roles/observer')
    expect(builtin.status).toBe(409)
    expect(builtin.body.error.message).toMatch(/built in/)
  })

  it('refuses bad roles with 400 naming the field', async () => {
    expect((await post(tb, '/api/v1/roles', { name: 'a/b', subscribe: [] })).body.error).toMatchObject({ field: 'name' })
    expect((await post(tb, '/api/v1/roles', { name: 'x' })).body.error).toMatchObject({ field: 'subscribe', message: 'subscribe: is required' })
    const bad = await post(tb, '/api/v1/roles', { name: 'x', subscribe: ['ok/#', 'a/#/b'] })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ field: 'subscribe[1]' })
    expect((await patch(tb, '/api/v1/roles/consumer', {})).body.error).toMatchObject({ field: 'subscribe' })
  })

  it('lets observers read roles but only admins change them', async () => {
    expect((await get(tb, '/api/v1/roles', { as: 'observer' })).status).toBe(200)
    expect((await post(tb, '/api/v1/roles', { name: 'y', subscribe: [] }, { as: 'observer' })).status).toBe(403)
    expect((await patch(tb, '/api/v1/roles/consumer', { subscribe: ['#'] }, { as: 'dashboard' })).status).toBe(403)
  })
})

describe('bad input: 400 naming the field', () => {
  it.each([
    ['no username', '/api/v1/users', { password: 'long-enough', roles: [] }, 'username', /is required/],
    ['no roles', '/api/v1/users', { username: 'z', password: 'long-enough' }, 'roles', /is required/],
    ['a username with /', '/api/v1/users', { username: 'a/b', password: 'long-enough', roles: [] }, 'username', /must not contain/],
    ['a username with white space', '/api/v1/users', { username: 'a b', password: 'long-enough', roles: [] }, 'username', /must not contain/],
    ['roles not an array', '/api/v1/users', { username: 'z', password: 'long-enough', roles: 'admin' }, 'roles', /must be array/],
    ['a role not a string', '/api/v1/users', { username: 'z', password: 'long-enough', roles: [1] }, 'roles[0]', /must be string/],
    ['an undefined role', '/api/v1/users', { username: 'z', password: 'long-enough', roles: ['consumer', 'pilot'] }, 'roles[1]', /role "pilot" is not defined/],
    ['a short password', '/api/v1/users', { username: 'z', password: 'short', roles: [] }, 'password', /fewer than 8/],
    ['no password', '/api/v1/users', { username: 'z', roles: [] }, 'password', /is required/],
    ['both password and hash', '/api/v1/users', { username: 'z', password: 'long-enough', passwordHash: 'scrypt$1', roles: [] }, 'password', /either/],
    ['a malformed hash', '/api/v1/users', { username: 'z', passwordHash: 'md5$abc', roles: [] }, 'passwordHash', /scrypt/],
    ['an unknown field', '/api/v1/users', { username: 'z', password: 'long-enough', roles: [], admin: true }, 'admin', /not a known field/],
    ['loopbackOnly not boolean', '/api/v1/users', { username: 'z', password: 'long-enough', roles: [], loopbackOnly: 'yes' },
      'loopbackOnly', /must be boolean/],
    ['an invalid filter', '/api/v1/topics', { filter: 'a/#/b', owners: ['x'] }, 'filter', /'#' must be/],
    ['a $SYS filter', '/api/v1/topics', { filter: '$SYS/x', owners: ['x'] }, 'filter', /belong to the broker/],
    ['a $CONTROL filter', '/api/v1/topics', { filter: '$CONTROL/warden/v1', owners: ['x'] }, 'filter', /belong to the broker/],
    ['no owners', '/api/v1/topics', { filter: 'a/b', owners: [] }, 'owners', /fewer than 1/],
    ['a {username} owner without template', '/api/v1/topics', { filter: 'a/b', owners: ['{username}'] }, 'owners[0]', /needs a \{username\} level/],
    ['a schema that is not an object', '/api/v1/topics', { filter: 'a/b', owners: ['x'], schema: 'number' }, 'schema', /must be object/],
    ['a schema that does not compile', '/api/v1/topics', { filter: 'a/b', owners: ['x'], schema: { type: 'object', propertees: {} } },
      'schema', /not a usable JSON Schema.*propertees/],
    ['a schema with an unknown format', '/api/v1/topics', { filter: 'a/b', owners: ['x'], schema: { type: 'string', format: 'email' } },
      'schema', /unknown format/]
  ])('%s', async (_what, path, body, field, message) => {
    const r = await post(tb, path, body)
    expect(r.status).toBe(400)
    expect(r.body.error.field).toBe(field)
    expect(r.body.error.message).toMatch(message)
    expect(r.body.error.message.startsWith(`${field}: `)).toBe(true)
  })

  it('refuses bodies that are not JSON objects', async () => {
    const notJson = await request(tb, 'POST', '/api/v1/users', { raw: '{"username":', headers: { 'content-type': 'application/json' } })
    expect(notJson).toMatchObject({ status: 400, body: { error: { field: '(body)' } } })
    expect(notJson.body.error.message).toMatch(/not valid JSON/)
    expect((await post(tb, '/api/v1/users', [1, 2])).body.error).toMatchObject({ field: '(body)', message: '(body): must be a JSON object' })
    const empty = await request(tb, 'POST', '/api/v1/users', { raw: '', headers: { 'content-type': 'application/json' } })
    expect(empty.status).toBe(400)
    const form = await request(tb, 'POST', '/api/v1/users', { raw: 'username=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(form).toMatchObject({ status: 400, body: { error: { field: 'content-type' } } })
  })

  it('refuses a change that names nothing, or a key the path already gives', async () => {
    expect((await patch(tb, '/api/v1/users/dashboard', {})).body.error).toMatchObject({ field: '(body)', message: '(body): names nothing to change' })
    expect((await patch(tb, '/api/v1/users/dashboard', { username: 'other', roles: [] })).body.error.field).toBe('username')
    expect((await patch(tb, topicPath('private/#'), { filter: 'x', owners: ['y'] })).body.error.field).toBe('filter')
  })

  it('refuses a body over 256 KiB with 413', async () => {
    const r = await post(tb, '/api/v1/topics', { filter: 'big/#', owners: ['x'], schema: { description: 'x'.repeat(300 * 1024) } })
    expect(r.status).toBe(413)
    expect(r.body.error.code).toBe('WARDEN_ERR_API_TOO_LARGE')
  })

  it('answers 404 for unknown paths and 405 with Allow for unknown methods', async () => {
    expect((await get(tb, '/api/v1/nothing')).status).toBe(404)
    expect((await get(tb, '/nothing')).status).toBe(404)
    expect((await get(tb, '/api/v1/users/a/b')).status).toBe(404)
    expect((await get(tb, '/dashboard/../../package.json')).status).toBe(404)
    const r = await del(tb, '/api/v1/users')
    expect(r.status).toBe(405)
    expect(r.headers.get('allow')).toBe('GET, POST')
    expect((await request(tb, 'PUT', '/api/v1/topics/x')).status).toBe(405)
  })

  it('says how to write # when a topic filter from the URL ends at it', async () => {
    // a URL ends at a bare '#' (fetch, like curl, sends no fragment): the broker sees "sensors/sensor-1/"
    const bare = await get(tb, '/api/v1/topics/sensors/sensor-1/#')
    expect(bare.status).toBe(404)
    expect(bare.body.error.message).toBe('topic "sensors/sensor-1/" does not exist (write # as %23 in a URL)')
    expect((await request(tb, 'PATCH', '/api/v1/topics/sensors/sensor-1/#', { body: { owners: ['sensor-2'] } })).body.error.message)
      .toMatch(/\(write # as %23 in a URL\)$/)
    expect((await get(tb, '/api/v1/topics/nothing/here')).body.error.message).toBe('topic "nothing/here" does not exist')
    expect((await get(tb, '/api/v1/topics/sensors/sensor-1/%23')).status).toBe(200)
  })

  it('refuses bad percent-encoding and bad query values', async () => {
    expect((await get(tb, '/api/v1/users/%E0%A4%A')).body.error.field).toBe('(path)')
    expect((await get(tb, '/api/v1/clients?limit=abc')).body.error).toMatchObject({ field: 'limit', message: 'limit: must be integer' })
    expect((await get(tb, '/api/v1/clients?limit=0')).status).toBe(400)
    expect((await get(tb, '/api/v1/users?x=1')).body.error.field).toBe('x')
  })
})

describe('introspection', () => {
  it('shows connected clients with user, roles and subscriptions', async () => {
    await withClients(['dashboard', 'sensor-1'], async ([dash, s1]) => {
      expect(await subscribe(dash!, ['sensors/#', 'sensors/+/status'], 1)).toEqual([1, 1])
      const r = await get(tb, '/api/v1/clients')
      expect(r.body.total).toBe(2)
      const d = r.body.clients.find((c: { clientId: string }) => c.clientId === dash!.client.options.clientId)
      expect(d).toMatchObject({
        username: 'dashboard', roles: ['consumer'], address: '127.0.0.1', clean: true,
        subscriptions: [{ filter: 'sensors/#', qos: 1 }, { filter: 'sensors/+/status', qos: 1 }]
      })
      expect(Date.parse(d.connectedAt)).toBeGreaterThan(Date.now() - 60_000)
      expect(r.body.clients.find((c: { username: string }) => c.username === 'sensor-1').subscriptions).toEqual([])
      expect((await get(tb, '/api/v1/clients?limit=1')).body.clients).toHaveLength(1)
      expect((await get(tb, '/api/v1/users/sensor-1')).body.connections).toBe(1)
      void s1
    })
  })

  it('counts messages, subscribers, rate and last publish per registered topic', async () => {
    await withClients(['dashboard', 'sensor-2', 'observer'], async ([dash, s2, obs]) => {
      await subscribe(dash!, 'sensors/#', 0)
      await subscribe(obs!, 'devices/#', 0) // overlaps no sensors/ registration
      const before = Date.now()
      for (let i = 0; i < 5; i++) await publish(s2!, 'sensors/sensor-2/t', `m${i}`, { qos: 1 })
      const t = (await get(tb, topicPath('sensors/sensor-2/#'))).body
      expect(t).toMatchObject({ filter: 'sensors/sensor-2/#', owners: ['sensor-2'], subscribers: 1, messages: 5, bytes: 10 })
      expect(Date.parse(t.lastPublishAt)).toBeGreaterThanOrEqual(before - 1)
      // the rate is sampled every 100 ms over a 5-sample window
      const rate = await waitUntil(async () => {
        await publish(s2!, 'sensors/sensor-2/t', 'x', { qos: 1 })
        const r = (await get(tb, topicPath('sensors/sensor-2/#'))).body.messagesPerSecond as number
        return r > 0 ? r : undefined
      }, 'a message rate', 10_000, 20)
      expect(rate).toBeGreaterThan(0)
      const templ = (await get(tb, topicPath('devices/{username}/telemetry'))).body
      expect(templ.subscribers).toBe(1)
    })
  })

  it('counts denials per user and reason, and keeps the recent ones', async () => {
    await withClients(['sensor-2'], async ([s2]) => {
      await publish(s2!, 'private/secret', 'forged', { qos: 1 })
      const r = await waitUntil(async () => {
        const d = (await get(tb, '/api/v1/denials')).body
        return d.recent.some((e: { topic?: string }) => e.topic === 'private/secret') ? d : undefined
      }, 'the denial', 5000, 20)
      expect(r.byUser['sensor-2']).toBeGreaterThanOrEqual(1)
      expect(r.byReason['publish:not-owner']).toBeGreaterThanOrEqual(1)
      expect(r.total).toBeGreaterThanOrEqual(1)
      expect(r.recent.at(-1)).toMatchObject({ kind: 'publish', reason: 'not-owner', username: 'sensor-2', topic: 'private/secret', filter: 'private/#' })
      expect(JSON.stringify(r)).not.toContain('forged')
    })
  })

  it('summarises the broker in /api/v1/status', async () => {
    const r = await get(tb, '/api/v1/status')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      brokerId: tb.broker.id,
      listeners: { mqtt: `127.0.0.1:${tb.port}`, http: `127.0.0.1:${tb.broker.http.port}` },
      persistence: 'level',
      registry: { backend: 'file' },
      clients: 0
    })
    expect(r.body.messages.received).toBeGreaterThan(0)
    expect(r.body.users).toBeGreaterThanOrEqual(5)
  })
})

describe('server-sent events', () => {
  it('streams a hello with history, then samples with topic rates and new denials', async () => {
    const s = await openEvents(`http://127.0.0.1:${tb.broker.http.port}/api/v1/events`, { username: 'observer', password: PASSWORD })
    expect(s.status).toBe(200)
    expect(s.contentType).toMatch(/^text\/event-stream/)
    const { events } = s
    const next = (pred: (e: SseEvent) => boolean, from?: number): Promise<SseEvent> => s.next(pred, from)
    try {
      const hello = await next((e) => e.event === 'hello')
      expect(hello.data).toMatchObject({ brokerId: tb.broker.id, intervalMs: 100 })
      expect(hello.data.history.length).toBeGreaterThan(0)
      await withClients(['sensor-1', 'sensor-2'], async ([s1, s2]) => {
        await publish(s2!, 'private/x', 'forged', { qos: 1 })
        const denied = await next((e) => e.event === 'stats' && e.data.denials.some((d: { topic?: string }) => d.topic === 'private/x'))
        expect(denied.data.denials[0]).toMatchObject({ kind: 'publish', reason: 'not-owner', username: 'sensor-2' })
        await publish(s1!, 'private/y', 'ok', { qos: 1 })
        const live = await next((e) => e.event === 'stats' &&
          e.data.topics.some((t: { filter: string, messagesPerSecond: number }) => t.filter === 'private/#' && t.messagesPerSecond > 0))
        expect(live.data).toMatchObject({ clients: 2, receivedPerSecond: expect.any(Number) })
        expect(live.data.topics.find((t: { filter: string }) => t.filter === 'private/#').messages).toBe(1)
      })
      // quiet for a whole window (5 samples): its rate is sent once more as 0, then it is left out
      const isPrivate = (t: { filter: string }): boolean => t.filter === 'private/#'
      const zero = await next((e) => e.event === 'stats' &&
        e.data.topics.some((t: { filter: string, messagesPerSecond: number }) => isPrivate(t) && t.messagesPerSecond === 0))
      const after = await next((e) => e.event === 'stats', events.indexOf(zero) + 1)
      expect(after.data.topics.some(isPrivate)).toBe(false)
    } finally {
      await s.close()
    }
  })
})

describe('event streams of changed accounts', () => {
  /** opens /api/v1/events as `username`; `ended` resolves when the broker ends the stream */
  async function stream (username: string, password: string): Promise<{ ended: Promise<void>, abort: () => void }> {
    const abort = new AbortController()
    const res = await fetch(`http://127.0.0.1:${tb.broker.http.port}/api/v1/events`, {
      headers: { authorization: basic(username, password) }, signal: abort.signal
    })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const ended = (async () => { for (;;) if ((await reader.read()).done) return })().catch(() => {})
    return { ended, abort: () => abort.abort() }
  }

  it('ends the event stream of an account whose password changes, and of a deleted one; others stay', async () => {
    await post(tb, '/api/v1/users', { username: 'watcher', password: 'watcher-secret', roles: ['observer'] })
    await post(tb, '/api/v1/users', { username: 'gone', password: 'gone-secret', roles: ['observer'] })
    const watcher = await stream('watcher', 'watcher-secret')
    const gone = await stream('gone', 'gone-secret')
    const other = await stream('observer', PASSWORD)
    let otherEnded = false
    void other.ended.then(() => { otherEnded = true })
    try {
      expect((await patch(tb, '/api/v1/users/watcher', { password: 'watcher-secret-2' })).status).toBe(200)
      await watcher.ended
      expect((await del(tb, '/api/v1/users/gone')).status).toBe(200)
      await gone.ended
      expect(otherEnded).toBe(false)
    } finally {
      for (const s of [watcher, gone, other]) s.abort()
      await del(tb, '/api/v1/users/watcher')
    }
  })
})
