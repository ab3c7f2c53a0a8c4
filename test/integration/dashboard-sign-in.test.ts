// The dashboard's sign-in over real HTTP (issue 18, item 1): the session cookie's flags, CSRF, sign-out,
// idle and absolute expiry, the bounded session table, and sign-in attempts throttled and audited by the
// same gate as HTTP Basic logins, with the thresholds of MQTT logins.
import { describe, expect, it } from 'vitest'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { basic as basicHeader, get, post } from '../helpers/http.js'
import { send, signIn, withCookie, type Answer, type Signed } from '../helpers/sign-in.js'
import { connackFrom } from '../helpers/raw-mqtt.js'
import { useScope } from '../helpers/scope.js'

const scope = useScope()

describe('a broker with the default dashboard settings, behind a TLS proxy on this host', () => {
  const start = (): Promise<TestBroker> => scope.start({ config: { behindProxy: true } })

  it('signs in with a cookie that scripts cannot read and other sites cannot send, and reads the API with it', async () => {
    const b = await start()
    const s = await signIn(b, 'observer')
    const flags = s.setCookie.split(';').map((p) => p.trim())
    expect(flags[0]).toMatch(/^warden_session=[A-Za-z0-9_-]{43}$/)
    expect(flags.slice(1)).toEqual(['Path=/', 'Max-Age=43200', 'HttpOnly', 'SameSite=Strict'])
    // what the proxy says of the client's connection decides Secure (and the __Host- prefix that requires it)
    const tls = await signIn(b, 'observer', PASSWORD, { 'x-forwarded-proto': 'https' })
    expect(tls.setCookie).toMatch(/^__Host-warden_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure$/)

    const status = await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })
    expect(status.status).toBe(200)
    const me = await send(b, 'GET', '/auth/session', { headers: withCookie(s) })
    expect(me.body).toMatchObject({ username: 'observer', admin: false, observer: true, csrf: s.csrf })
    // the cookie names a session in the broker's table: an id it never issued is no session
    const forged = await send(b, 'GET', '/api/v1/status', { headers: { cookie: 'warden_session=' + 'A'.repeat(43) } })
    expect(forged.status).toBe(401)
    // no Basic challenge: a browser would show its own prompt instead of the sign-in page
    expect(forged.headers['www-authenticate']).toBeUndefined()
    // the API keeps HTTP Basic for the CLI and scripts, with its challenge
    expect((await get(b, '/api/v1/status', { as: 'observer' })).status).toBe(200)
    expect((await get(b, '/api/v1/status', { as: null })).headers.get('www-authenticate')).toMatch(/^Basic /)
  })

  it('needs the CSRF token for every change made with the cookie, and refuses an observer\'s change', async () => {
    const b = await start()
    const admin = await signIn(b, 'admin')
    const topic = { filter: 'sites/plant-9/#', owners: ['sensor-1'] }
    const noToken = await send(b, 'POST', '/api/v1/topics', { headers: withCookie(admin), body: topic })
    expect(noToken).toMatchObject({ status: 403, body: { error: { code: 'WARDEN_ERR_API_CSRF' } } })
    const other = await signIn(b, 'admin')
    const wrongToken = await send(b, 'POST', '/api/v1/topics', { headers: withCookie(admin, { 'x-csrf-token': other.csrf }), body: topic })
    expect(wrongToken.status).toBe(403)
    // the right token from a page of another origin (another port of this host is the same site for SameSite)
    const crossSite = await send(b, 'POST', '/api/v1/topics', {
      headers: withCookie(admin, { 'x-csrf-token': admin.csrf, origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' }), body: topic
    })
    expect(crossSite.status).toBe(403)
    expect((await get(b, '/api/v1/topics/sites%2Fplant-9%2F%23')).status).toBe(404)
    const sameOrigin = withCookie(admin, { 'x-csrf-token': admin.csrf, 'sec-fetch-site': 'same-origin' })
    const ok = await send(b, 'POST', '/api/v1/topics', { headers: sameOrigin, body: topic })
    expect(ok.status).toBe(201)

    const observer = await signIn(b, 'observer')
    const refused = await send(b, 'DELETE', '/api/v1/topics/sites%2Fplant-9%2F%23', { headers: withCookie(observer, { 'x-csrf-token': observer.csrf }) })
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'WARDEN_ERR_API_FORBIDDEN' } } })
  })

  it('signs out with the token only, and the cookie is dead afterwards', async () => {
    const b = await start()
    const s = await signIn(b, 'admin')
    expect((await send(b, 'POST', '/auth/logout', { headers: withCookie(s) })).status).toBe(403)
    expect((await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })).status).toBe(200)
    const out = await send(b, 'POST', '/auth/logout', { headers: withCookie(s, { 'x-csrf-token': s.csrf }) })
    expect(out.status).toBe(204)
    expect((out.headers['set-cookie'] as string[])[0]).toMatch(/^warden_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/)
    expect((await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })).status).toBe(401)
  })

  it('refuses a sign-in posted from another site, and accounts without the admin or observer role', async () => {
    const b = await start()
    const cross = await send(b, 'POST', '/auth/login', { body: { username: 'admin', password: PASSWORD }, headers: { origin: 'http://evil.example' } })
    expect(cross.status).toBe(403)
    expect(cross.headers['set-cookie']).toBeUndefined()
    const consumer = await send(b, 'POST', '/auth/login', { body: { username: 'dashboard', password: PASSWORD } })
    expect(consumer.status).toBe(403)
    expect(consumer.headers['set-cookie']).toBeUndefined()
  })

  it('ends the sessions of an account whose password or roles change', async () => {
    const b = await start()
    await post(b, '/api/v1/users', { username: 'ops', password: 'ops-password', roles: ['observer'] })
    const s = await signIn(b, 'ops', 'ops-password')
    expect((await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })).status).toBe(200)
    expect((await send(b, 'PATCH', '/api/v1/users/ops', { headers: withCookie(await signIn(b, 'admin'), {}), body: { roles: [] } })).status).toBe(403)
    const admin = await signIn(b, 'admin')
    expect((await send(b, 'PATCH', '/api/v1/users/ops', { headers: withCookie(admin, { 'x-csrf-token': admin.csrf }), body: { roles: [] } })).status).toBe(200)
    expect((await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })).status).toBe(401)
  })
})

it('serves the dashboard\'s files from memory with an ETag: a reload revalidates with 304', async () => {
  const b = await scope.start()
  const first = await send(b, 'GET', '/dashboard/app.js')
  expect(first.status).toBe(200)
  const etag = first.headers.etag as string
  expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/)
  expect(first.headers['cache-control']).toBe('no-cache')
  const again = await send(b, 'GET', '/dashboard/app.js', { headers: { 'if-none-match': etag } })
  expect(again).toMatchObject({ status: 304, body: undefined })
  expect((await send(b, 'GET', '/dashboard/app.js', { headers: { 'if-none-match': '"other"' } })).status).toBe(200)
})

describe('expiry and the bounded table', () => {
  it('ends a session left idle for dashboard.sessionIdleMs', async () => {
    const b = await scope.start({ config: { dashboard: { sessionIdleMs: 1000, sessionMaxMs: 60000 } } })
    const s = await signIn(b, 'observer')
    const at = Date.now()
    // used every 200 ms for 1.5 s: kept
    while (Date.now() - at < 1500) {
      expect((await send(b, 'GET', '/auth/session', { headers: withCookie(s) })).status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const last = Date.now()
    await expect.poll(async () => (await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })).status, { interval: 1100, timeout: 5000 }).toBe(401)
    expect(Date.now() - last).toBeGreaterThanOrEqual(1000)

    // the page's own refreshes, however frequent, do not keep an unattended session alive
    const unattended = await signIn(b, 'observer')
    const since = Date.now()
    const background = withCookie(unattended, { 'x-warden-background': '1' })
    let status = 200
    while (status === 200 && Date.now() - since < 5000) {
      status = (await send(b, 'GET', '/api/v1/status', { headers: background })).status
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(status).toBe(401)
    expect(Date.now() - since).toBeGreaterThanOrEqual(1000)
    expect(Date.now() - since).toBeLessThan(2000)
  })

  it('ends a session dashboard.sessionMaxMs after sign-in however much it is used', async () => {
    const b = await scope.start({ config: { dashboard: { sessionIdleMs: 1000, sessionMaxMs: 2000 } } })
    const s = await signIn(b, 'observer')
    const at = Date.now()
    let status = 200
    while (status === 200 && Date.now() - at < 10_000) {
      status = (await send(b, 'GET', '/auth/session', { headers: withCookie(s) })).status
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(status).toBe(401)
    expect(Date.now() - at).toBeGreaterThanOrEqual(2000)
    expect(Date.now() - at).toBeLessThan(3000)
  })

  it('keeps at most maxSessionsPerUser per account (its oldest ends) and maxSessions in all (then 503)', async () => {
    const b = await scope.start({ config: { dashboard: { maxSessions: 3, maxSessionsPerUser: 2 } } })
    const [a1, a2, a3] = [await signIn(b, 'admin'), await signIn(b, 'admin'), await signIn(b, 'admin')]
    const alive = async (s: Signed): Promise<number> => (await send(b, 'GET', '/auth/session', { headers: withCookie(s) })).status
    expect([await alive(a1!), await alive(a2!), await alive(a3!)]).toEqual([401, 200, 200])
    await signIn(b, 'observer')
    const full = await send(b, 'POST', '/auth/login', { body: { username: 'observer', password: PASSWORD } })
    // observer's second session: the table holds 3 (admin 2, observer 1)
    expect(full).toMatchObject({ status: 503, body: { error: { code: 'WARDEN_ERR_API_SESSIONS_FULL' } } })
    expect(full.headers['retry-after']).toBe('60')
    // another account's sign-ins never end admin's sessions
    expect([await alive(a2!), await alive(a3!)]).toEqual([200, 200])
  })
})

describe('sign-in attempts: the login defences of MQTT and the API', () => {
  const ATTACKER = '127.0.0.7'
  const ELSEWHERE = '127.0.0.8'
  const login = { delayMs: 0, maxFailuresPerUserAddress: 3 }

  it('locks a (username, address) pair after the same number of failures as an MQTT login, audited, without locking the account elsewhere', async () => {
    const b = await scope.start({ config: { limits: { login } } })
    const attempt = (password: string, from = ATTACKER): Promise<Answer> =>
      send(b, 'POST', '/auth/login', { body: { username: 'admin', password }, from })
    for (let i = 0; i < 3; i++) {
      const a = await attempt(`guess-${i}`)
      expect(a).toMatchObject({ status: 401, body: { error: { message: 'bad username or password' } } })
    }
    const locked = await attempt(PASSWORD)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0)
    expect(locked.headers['set-cookie']).toBeUndefined()
    // one gate for the sign-in page and HTTP Basic: switching between them gains a guesser nothing
    const basic = await send(b, 'GET', '/api/v1/status', { from: ATTACKER, headers: { authorization: basicHeader('admin') } })
    expect(basic.status).toBe(429)
    expect((await attempt(PASSWORD, ELSEWHERE)).status).toBe(200)
    const failures = scope.events.filter((e) => e.kind === 'connect' && e.reason === 'bad-credentials' && e.username === 'admin')
    expect(failures).toHaveLength(3)
    expect(failures[0]).toMatchObject({ address: ATTACKER, detail: expect.stringMatching(/^dashboard sign-in: /) })
    expect(scope.events.find((e) => e.reason === 'login-throttled'))
      .toMatchObject({ username: 'admin', address: ATTACKER, detail: expect.stringMatching(/^dashboard sign-in: /) })

    // MQTT logins with the same settings: locked after as many failures
    for (let i = 0; i < 3; i++) expect(await connackFrom(b.port, ATTACKER, 'sensor-1', `guess-${i}`)).toBe(4)
    expect(await connackFrom(b.port, ATTACKER, 'sensor-1', PASSWORD)).toBe(3)
  })
})
