// The dashboard's sign-in in cluster mode: pm2 hands each request of one browser to any worker, so a session
// begun on one worker holds on every other — and ends on every other (sign-out, account change, bounds) —
// through the table the workers share in Redis. What Redis holds is a digest of the cookie, never the cookie.
import { Redis } from 'ioredis'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PASSWORD, type TestBroker } from '../helpers/broker.js'
import { get, patch, post } from '../helpers/http.js'
import { startRedis, type TestRedis, useSharedRedis } from '../helpers/redis.js'
import { useScope } from '../helpers/scope.js'
import { send, signIn, withCookie, type Signed } from '../helpers/sign-in.js'

// before the scope: emptied once the test's brokers are closed
const redis = useSharedRedis()
const scope = useScope()

const node = (brokerId: string, dashboard: Record<string, unknown> = {}, on: TestRedis = redis): Promise<TestBroker> =>
  scope.startAnother({ config: { persistence: 'redis', redis: { url: on.url }, brokerId, dashboard } })
const status = async (b: TestBroker, s: Signed, headers: Record<string, string> = {}): Promise<number> =>
  (await send(b, 'GET', '/auth/session', { headers: withCookie(s, headers) })).status

describe('two workers on one Redis', () => {
  it('a session begun on one worker is known to the other, with its CSRF token', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const s = await signIn(a, 'admin')
    const me = await send(b, 'GET', '/auth/session', { headers: withCookie(s) })
    expect(me).toMatchObject({ status: 200, body: { username: 'admin', admin: true, csrf: s.csrf } })
    expect((await send(b, 'GET', '/api/v1/status', { headers: withCookie(s) })).status).toBe(200)
    // a change on the other worker: the token still decides
    const topic = { filter: 'sites/plant-9/#', owners: ['sensor-1'] }
    expect((await send(b, 'POST', '/api/v1/topics', { headers: withCookie(s), body: topic })).status).toBe(403)
    expect((await send(b, 'POST', '/api/v1/topics', { headers: withCookie(s, { 'x-csrf-token': s.csrf }), body: topic })).status).toBe(201)
    // an id neither worker issued is no session on either
    const forged = { cookie: 'warden_session=' + 'A'.repeat(43), csrf: s.csrf, setCookie: '' }
    expect([await status(a, forged), await status(b, forged)]).toEqual([401, 401])
  })

  it('signing out on one worker ends the session on the other', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    const s = await signIn(a, 'observer')
    expect(await status(b, s)).toBe(200)
    expect((await send(b, 'POST', '/auth/logout', { headers: withCookie(s, { 'x-csrf-token': s.csrf }) })).status).toBe(204)
    expect([await status(a, s), await status(b, s)]).toEqual([401, 401])
  })

  it('an account changed through one worker loses its sessions on both', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    await post(a, '/api/v1/users', { username: 'ops', password: 'ops-password', roles: ['observer'] })
    const s = await signIn(a, 'ops', 'ops-password')
    expect(await status(b, s)).toBe(200)
    const admin = await signIn(b, 'admin')
    expect((await send(b, 'PATCH', '/api/v1/users/ops', { headers: withCookie(admin, { 'x-csrf-token': admin.csrf }), body: { roles: [] } })).status).toBe(200)
    await expect.poll(async () => [await status(a, s), await status(b, s)]).toEqual([401, 401])
  })

  it('an account demoted while Redis refuses to end its sessions: its old session does nothing more on either worker', async () => {
    const [a, b] = await Promise.all([node('a'), node('b')])
    expect((await post(a, '/api/v1/users', { username: 'ops', password: 'ops-password', roles: ['admin'] })).status).toBe(201)
    const s = await signIn(a, 'ops', 'ops-password')
    const change = (on: TestBroker, filter: string): Promise<number> => send(on, 'POST', '/api/v1/topics', {
      headers: withCookie(s, { 'x-csrf-token': s.csrf }), body: { filter, owners: ['sensor-1'] }
    }).then((r) => r.status)
    expect([await change(a, 'sites/a/#'), await change(b, 'sites/b/#')]).toEqual([201, 201])
    const r = new Redis(redis.url)
    try {
      // ending an account's sessions reads its set of sessions first (ZRANGE): Redis refuses it on both
      // workers while the account is demoted through b and the change reaches a
      await r.call('ACL', 'SETUSER', 'default', '-zrange')
      try {
        expect((await patch(b, '/api/v1/users/ops', { roles: ['observer'] })).status).toBe(200)
        await expect.poll(async () => (await get(a, '/api/v1/users/ops')).body.roles).toEqual(['observer'])
      } finally {
        await r.call('ACL', 'SETUSER', 'default', '+zrange')
      }
      // the session is still in Redis, as stored at sign-in (as admin): ending it did fail
      const key = createHash('sha256').update(s.cookie.slice(s.cookie.indexOf('=') + 1)).digest('base64url')
      expect(JSON.parse(await r.get(`warden:web-session\u0000s:${key}`) ?? 'null')).toMatchObject({ u: 'ops', r: ['admin'] })
    } finally {
      r.disconnect()
    }
    // yet it is refused on each worker, for a change and for a read, and ended
    expect([await change(a, 'sites/c/#'), await change(b, 'sites/d/#')]).toEqual([401, 401])
    expect([await status(a, s), await status(b, s)]).toEqual([401, 401])
    // signing in again gives what the account has now
    const again = await signIn(b, 'ops', 'ops-password')
    expect((await send(a, 'GET', '/auth/session', { headers: withCookie(again) })).body).toMatchObject({ roles: ['observer'], admin: false })
    const topic = { filter: 'sites/e/#', owners: ['sensor-1'] }
    expect((await send(a, 'POST', '/api/v1/topics', { headers: withCookie(again, { 'x-csrf-token': again.csrf }), body: topic })).status).toBe(403)
  })

  it('idle expiry counts use on any worker; the page\'s own polling keeps it on none', async () => {
    const [a, b] = await Promise.all([node('a', { sessionIdleMs: 1000 }), node('b', { sessionIdleMs: 1000 })])
    const s = await signIn(a, 'observer')
    const at = Date.now()
    // used on b only, every 200 ms for 1.5 s: a keeps it too
    while (Date.now() - at < 1500) {
      expect(await status(b, s)).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(await status(a, s, { 'x-warden-background': '1' })).toBe(200)
    const since = Date.now()
    let code = 200
    for (let i = 0; code === 200 && Date.now() - since < 5000; i++) {
      code = await status(i % 2 === 0 ? a : b, s, { 'x-warden-background': '1' })
      if (code === 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(code).toBe(401)
    expect(Date.now() - since).toBeLessThan(2000)
  })

  it('maxSessionsPerUser and maxSessions hold across workers', async () => {
    const bounds = { maxSessions: 3, maxSessionsPerUser: 2 }
    const [a, b] = await Promise.all([node('a', bounds), node('b', bounds)])
    const a1 = await signIn(a, 'admin')
    const a2 = await signIn(b, 'admin')
    const a3 = await signIn(a, 'admin')
    expect([await status(b, a1), await status(a, a2), await status(b, a3)]).toEqual([401, 200, 200])
    await signIn(b, 'observer')
    const full = await send(a, 'POST', '/auth/login', { body: { username: 'observer', password: PASSWORD } })
    expect(full).toMatchObject({ status: 503, body: { error: { code: 'WARDEN_ERR_API_SESSIONS_FULL' } } })
  })

  it('Redis holds a digest of the cookie, never the cookie itself', async () => {
    const [a] = await Promise.all([node('a')])
    const s = await signIn(a, 'admin')
    const id = s.cookie.slice(s.cookie.indexOf('=') + 1)
    const r = new Redis(redis.url)
    try {
      const keys = await r.keys('*')
      const sessionKeys = keys.filter((k) => k.startsWith('warden:web-session\u0000s:'))
      expect(sessionKeys).toHaveLength(1)
      for (const k of keys) {
        expect(k).not.toContain(id)
        const type = await r.type(k)
        const values = type === 'string' ? [await r.get(k)] : type === 'zset' ? await r.zrange(k, 0, -1) : []
        for (const v of values) expect(v).not.toContain(id)
      }
      // and it expires with the session
      expect(await r.pttl(sessionKeys[0]!)).toBeGreaterThan(0)
    } finally {
      r.disconnect()
    }
  })
})

it('while Redis is away a signed-in browser is refused (503), never let in unchecked', async () => {
  const aof = await mkdtemp(join(tmpdir(), 'warden-web-sessions-'))
  const own = await startRedis({ aof })
  let a: TestBroker | undefined
  try {
    a = await node('a', {}, own)
    const s = await signIn(a, 'admin')
    expect(await status(a, s)).toBe(200)
    await own.stop()
    const r = await send(a, 'GET', '/api/v1/status', { headers: withCookie(s) })
    expect(r).toMatchObject({ status: 503, body: { error: { code: 'WARDEN_ERR_API_SESSIONS_UNAVAILABLE' } } })
    // back with its data: the same session holds again
    await own.restart()
    const back = a
    await expect.poll(async () => status(back, s), { timeout: 10_000 }).toBe(200)
  } finally {
    // the broker before its Redis: one whose Redis has just gone waits for it a while as it shuts down
    await a?.close()
    await own.stop()
    await rm(aof, { recursive: true, force: true })
  }
})
