// The dashboard's signed-in sessions, never in the cookie (it holds a random id only): in memory, or in Redis
// in cluster mode, where pm2 hands each request of one browser to any worker and every worker must know the
// session. Each has an idle and an absolute expiry and a CSRF token; the table is bounded overall and per
// account. What is kept is a digest of the cookie's id: neither the memory of a worker nor Redis holds what a
// browser would need to present. A session is honoured only while its account is the one it was signed in
// with (auth/account-fingerprint.ts), checked against the answering worker's registry on every request: an
// account changed or deleted loses its sessions even when ending them at the change failed (Redis away).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'
import { isWardenError, WardenError } from '@warden/common'
import type { DashboardConfig } from '../config/dashboard-schema.js'
import { createIdentity, type Identity } from '../policy/identity.js'

export interface WebSession {
  /** a digest of the cookie's id: what the table is keyed by and what a listing may show */
  readonly key: string
  readonly identity: Identity
  /** sent in the X-CSRF-Token header of every change */
  readonly csrf: string
  readonly createdAt: number
  lastSeenAt: number
  readonly address: string | undefined
  /** the account as signed in with (accountFingerprint) */
  readonly fingerprint: string
  /** the registry revision the sign-in was checked against */
  readonly revision: number
}

export type StartOutcome =
  | { readonly ok: true, readonly id: string, readonly session: WebSession }
  | { readonly ok: false, readonly reason: 'full' | 'changed', readonly detail: string }

/** The accounts as the answering worker knows them now (its registry, kept in step on every worker). */
export interface SessionAccounts {
  /** the live account's fingerprint; undefined when there is no such account */
  fingerprint (username: string): string | undefined
  /** the revision of this worker's registry */
  revision (): number
}

/** Every call may fail with WARDEN_ERR_API_SESSIONS_UNAVAILABLE when the table is in Redis and Redis does
 * not answer: the request is then refused, never let through unchecked. */
export interface WebSessions {
  /** a new session for this identity, signed in with the account of this fingerprint (its account's oldest
   * ends past maxSessionsPerUser); refused when the account changed meanwhile */
  start (identity: Identity, fingerprint: string, address: string | undefined, now?: number): Promise<StartOutcome>
  /** the live session of this cookie id, its idle timer restarted unless `background` (a page's own
   * polling is no sign of someone at it); undefined when unknown, expired, or its account changed or gone
   * (then it is ended) */
  touch (id: string, now?: number, background?: boolean): Promise<WebSession | undefined>
  /** ends the session of this cookie id */
  end (id: string): Promise<void>
  /** ends every session of these accounts (changed or deleted: they sign in again) */
  endFor (usernames: ReadonlySet<string>): Promise<void>
  /** still signed in, with the same account (an event stream asks at each sample) */
  alive (key: string, now?: number): Promise<boolean>
  /** when this session ends if not used meanwhile */
  expiresAt (s: WebSession): number
  checkCsrf (s: WebSession, token: string | undefined): boolean
  close (): Promise<void>
}

type Limits = Pick<DashboardConfig, 'sessionIdleMs' | 'sessionMaxMs' | 'maxSessions' | 'maxSessionsPerUser'>

const digest = (id: string): string => createHash('sha256').update(id).digest('base64url')
const newId = (): string => randomBytes(32).toString('base64url')
const full = (cfg: Limits): string => `${cfg.maxSessions} dashboard sessions are open (dashboard.maxSessions)`

/** a session this worker may not judge yet: signed in against a newer registry than it has */
const behind = (): never => {
  throw new WardenError('WARDEN_ERR_API_SESSIONS_UNAVAILABLE', 'this worker has not yet seen the latest change to this account: try again shortly')
}

interface Rules extends Pick<WebSessions, 'expiresAt' | 'checkCsrf'> {
  /** idle or past its absolute bound */
  expired (s: WebSession, now: number): boolean
  /** its account changed or went since the sign-in: the session ends. Throws (503, kept) when this worker's
   * registry is older than the sign-in's, so that a worker catching up does not end a session begun after a
   * change it has not seen yet */
  revoked (s: WebSession): boolean
  /** the session a sign-in starts, or why not (the account changed while the sign-in was checked) */
  begin (identity: Identity, fingerprint: string, address: string | undefined, now: number): { id: string, session: WebSession } | undefined
}

/** what both tables share: expiry, the account check and the CSRF check */
function rules (cfg: Limits, accounts: SessionAccounts): Rules {
  return {
    expired: (s, now) => now - s.lastSeenAt >= cfg.sessionIdleMs || now - s.createdAt >= cfg.sessionMaxMs,
    revoked (s) {
      if (s.identity.username !== undefined && accounts.fingerprint(s.identity.username) === s.fingerprint) return false
      return s.revision <= accounts.revision() || behind()
    },
    begin (identity, fingerprint, address, now) {
      if (identity.username === undefined || accounts.fingerprint(identity.username) !== fingerprint) return undefined
      const id = newId()
      const session = { key: digest(id), identity, csrf: newId(), createdAt: now, lastSeenAt: now, address, fingerprint, revision: accounts.revision() }
      return { id, session }
    },
    expiresAt: (s) => Math.min(s.lastSeenAt + cfg.sessionIdleMs, s.createdAt + cfg.sessionMaxMs),
    checkCsrf (s, token) {
      if (token === undefined) return false
      const a = Buffer.from(token)
      const b = Buffer.from(s.csrf)
      return a.length === b.length && timingSafeEqual(a, b)
    }
  }
}

const CHANGED = 'the account changed during sign-in: sign in again'

/** One process: a Map. */
export function createWebSessions (cfg: Limits, accounts: SessionAccounts): WebSessions {
  // insertion order is sign-in order: the first of an account's sessions is its oldest
  const table = new Map<string, WebSession>()
  const { expired, revoked, begin, expiresAt, checkCsrf } = rules(cfg, accounts)
  const sweep = (now: number): void => {
    for (const [k, s] of table) if (expired(s, now)) table.delete(k)
  }
  const ofUser = (username: string | undefined): WebSession[] => [...table.values()].filter((s) => s.identity.username === username)
  return {
    expiresAt,
    checkCsrf,
    async start (identity, fingerprint, address, now = Date.now()) {
      const begun = begin(identity, fingerprint, address, now)
      if (begun === undefined) return { ok: false, reason: 'changed', detail: CHANGED }
      if (table.size >= cfg.maxSessions) sweep(now)
      const own = ofUser(identity.username)
      // an account signing in again and again ends its own oldest sessions, never another account's
      for (const s of own.slice(0, Math.max(0, own.length - cfg.maxSessionsPerUser + 1))) table.delete(s.key)
      if (table.size >= cfg.maxSessions) return { ok: false, reason: 'full', detail: full(cfg) }
      const { id, session } = begun
      table.set(session.key, session)
      return { ok: true, id, session }
    },
    async touch (id, now = Date.now(), background = false) {
      const s = table.get(digest(id))
      if (s === undefined) return undefined
      if (expired(s, now) || revoked(s)) { table.delete(s.key); return undefined }
      if (!background) s.lastSeenAt = now
      return s
    },
    async end (id) { table.delete(digest(id)) },
    async endFor (usernames) {
      for (const [k, s] of table) if (s.identity.username !== undefined && usernames.has(s.identity.username)) table.delete(k)
    },
    async alive (key, now = Date.now()) {
      const s = table.get(key)
      return s !== undefined && !expired(s, now) && !revoked(s)
    },
    async close () { table.clear() }
  }
}

// Redis: one key a session, expiring with it, and two sorted sets of session keys by sign-in time (all of
// them, and each account's) for the bounds. The names carry U+0000, which no MQTT topic may contain (with the
// Redis bus every topic is a Redis channel of the same name). The bounds are checked and the session written in
// one script (START): sign-ins sent at the same instant, to one worker or several, cannot all pass the last
// free place (an account racing its own sign-ins took any number of places, and could fill maxSessions).
const PREFIX = 'warden:web-session\u0000'
const sessionKey = (key: string): string => `${PREFIX}s:${key}`
const userKey = (username: string): string => `${PREFIX}u:${username}`
const ALL = `${PREFIX}all`

/** KEYS: the account's set, the set of all; ARGV: session key prefix, maxSessionsPerUser, maxSessions, the new
 * session's key, its record, its ttl, now. Drops expired members, ends the account's oldest past its bound,
 * and writes the session unless the table is full: 1 written, 0 full. */
const START = `
local pfx = ARGV[1]
local function live (set)
  local out = {}
  for _, k in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    if redis.call('EXISTS', pfx .. k) == 1 then out[#out + 1] = k else redis.call('ZREM', set, k) end
  end
  return out
end
local own = live(KEYS[1])
for i = 1, #own - tonumber(ARGV[2]) + 1 do
  redis.call('DEL', pfx .. own[i])
  redis.call('ZREM', KEYS[2], own[i])
  redis.call('ZREM', KEYS[1], own[i])
end
local max = tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[2]) >= max and #live(KEYS[2]) >= max then return 0 end
redis.call('SET', pfx .. ARGV[4], ARGV[5], 'PX', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[7], ARGV[4])
return 1`

/** f, v: the account's fingerprint and the registry revision at sign-in (a session stored without them, by
 * an older version, is ended at its next request) */
interface Stored { u: string, r: readonly string[], c: string, t0: number, t: number, a?: string, f?: string, v?: number }

/** Several workers: the sessions in Redis, on a connection of their own (made by the caller, closed here). */
export function createRedisWebSessions (cfg: Limits, accounts: SessionAccounts, redis: Redis): WebSessions {
  const { expired, revoked, begin, expiresAt, checkCsrf } = rules(cfg, accounts)
  const failed = (err: unknown): never => {
    const detail = 'the dashboard\'s sessions are kept in Redis, which does not answer: try again shortly'
    throw new WardenError('WARDEN_ERR_API_SESSIONS_UNAVAILABLE', detail, { cause: err })
  }
  const ttl = (s: WebSession, now: number): number => Math.max(1, expiresAt(s) - now)
  const encode = (s: WebSession): string => JSON.stringify({
    u: s.identity.username ?? '', r: s.identity.roles, c: s.csrf, t0: s.createdAt, t: s.lastSeenAt,
    ...(s.address !== undefined ? { a: s.address } : {}), f: s.fingerprint, v: s.revision
  } satisfies Stored)
  const decode = (key: string, text: string): WebSession => {
    const v = JSON.parse(text) as Stored
    // the identity as the sign-in made it (http/basic-auth.ts)
    return {
      key, identity: createIdentity(v.u, `http:${v.u}`, v.r), csrf: v.c, createdAt: v.t0, lastSeenAt: v.t, address: v.a,
      fingerprint: v.f ?? '', revision: v.v ?? 0
    }
  }
  const read = async (key: string): Promise<WebSession | undefined> => {
    const text = await redis.get(sessionKey(key))
    return text === null ? undefined : decode(key, text)
  }
  const remove = async (key: string, username: string): Promise<void> => {
    await redis.multi().del(sessionKey(key)).zrem(ALL, key).zrem(userKey(username), key).exec()
  }
  const guarded = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await f(...a)
    } catch (err) {
      // a worker behind the sign-in's registry says so itself (rules' revoked)
      if (isWardenError(err)) throw err
      return failed(err)
    }
  }
  return {
    expiresAt,
    checkCsrf,
    start: guarded(async (identity: Identity, fingerprint: string, address: string | undefined, now = Date.now()): Promise<StartOutcome> => {
      const begun = begin(identity, fingerprint, address, now)
      if (begun === undefined) return { ok: false, reason: 'changed', detail: CHANGED }
      const { id, session } = begun
      const written = await redis.eval(START, 2, userKey(identity.username ?? ''), ALL, sessionKey(''), cfg.maxSessionsPerUser,
        cfg.maxSessions, session.key, encode(session), ttl(session, now), now)
      if (written !== 1) return { ok: false, reason: 'full', detail: full(cfg) }
      return { ok: true, id, session }
    }),
    touch: guarded(async (id: string, now = Date.now(), background = false): Promise<WebSession | undefined> => {
      const s = await read(digest(id))
      if (s === undefined) return undefined
      if (expired(s, now) || revoked(s)) { await remove(s.key, s.identity.username ?? ''); return undefined }
      if (!background) {
        s.lastSeenAt = now
        // XX: a session ended meanwhile by another worker stays ended
        await redis.set(sessionKey(s.key), encode(s), 'PX', ttl(s, now), 'XX')
      }
      return s
    }),
    end: guarded(async (id: string): Promise<void> => {
      const s = await read(digest(id))
      if (s !== undefined) await remove(s.key, s.identity.username ?? '')
    }),
    endFor: guarded(async (usernames: ReadonlySet<string>): Promise<void> => {
      for (const username of usernames) {
        const keys = await redis.zrange(userKey(username), 0, -1)
        const m = redis.multi().del(userKey(username))
        if (keys.length > 0) m.del(...keys.map(sessionKey)).zrem(ALL, ...keys)
        await m.exec()
      }
    }),
    alive: guarded(async (key: string, now = Date.now()): Promise<boolean> => {
      const s = await read(key)
      return s !== undefined && !expired(s, now) && !revoked(s)
    }),
    async close () { redis.disconnect() }
  }
}
