// The dashboard's signed-in sessions: kept here, in memory, never in the cookie (it holds a random id only).
// Each has an idle and an absolute expiry and a CSRF token; the table is bounded overall and per account.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { DashboardConfig } from '../config/dashboard-schema.js'
import type { Identity } from '../policy/identity.js'

export interface WebSession {
  /** a digest of the cookie's id: what the table is keyed by and what a listing may show */
  readonly key: string
  readonly identity: Identity
  /** sent in the X-CSRF-Token header of every change */
  readonly csrf: string
  readonly createdAt: number
  lastSeenAt: number
  readonly address: string | undefined
}

export type StartOutcome = { readonly ok: true, readonly id: string, readonly session: WebSession } | { readonly ok: false, readonly detail: string }

export interface WebSessions {
  /** a new session for this identity (its account's oldest ends past maxSessionsPerUser) */
  start (identity: Identity, address: string | undefined, now?: number): StartOutcome
  /** the live session of this cookie id, its idle timer restarted unless `background` (a page's own
   * polling is no sign of someone at it); undefined when unknown or expired */
  touch (id: string, now?: number, background?: boolean): WebSession | undefined
  /** ends the session of this cookie id */
  end (id: string): void
  /** ends every session of these accounts (changed or deleted: they sign in again) */
  endFor (usernames: ReadonlySet<string>): void
  /** still signed in (an event stream asks at each sample) */
  alive (key: string, now?: number): boolean
  readonly size: number
  /** when this session ends if not used meanwhile */
  expiresAt (s: WebSession): number
  checkCsrf (s: WebSession, token: string | undefined): boolean
}

const digest = (id: string): string => createHash('sha256').update(id).digest('base64url')

export function createWebSessions (cfg: Pick<DashboardConfig, 'sessionIdleMs' | 'sessionMaxMs' | 'maxSessions' | 'maxSessionsPerUser'>): WebSessions {
  // insertion order is sign-in order: the first of an account's sessions is its oldest
  const table = new Map<string, WebSession>()
  const expired = (s: WebSession, now: number): boolean => now - s.lastSeenAt >= cfg.sessionIdleMs || now - s.createdAt >= cfg.sessionMaxMs
  const sweep = (now: number): void => {
    for (const [k, s] of table) if (expired(s, now)) table.delete(k)
  }
  const ofUser = (username: string | undefined): WebSession[] => [...table.values()].filter((s) => s.identity.username === username)
  return {
    get size () { return table.size },
    start (identity, address, now = Date.now()) {
      if (table.size >= cfg.maxSessions) sweep(now)
      const own = ofUser(identity.username)
      // an account signing in again and again ends its own oldest sessions, never another account's
      for (const s of own.slice(0, Math.max(0, own.length - cfg.maxSessionsPerUser + 1))) table.delete(s.key)
      if (table.size >= cfg.maxSessions) return { ok: false, detail: `${cfg.maxSessions} dashboard sessions are open (dashboard.maxSessions)` }
      const id = randomBytes(32).toString('base64url')
      const session: WebSession = {
        key: digest(id), identity, csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now, address
      }
      table.set(session.key, session)
      return { ok: true, id, session }
    },
    touch (id, now = Date.now(), background = false) {
      const s = table.get(digest(id))
      if (s === undefined) return undefined
      if (expired(s, now)) { table.delete(s.key); return undefined }
      if (!background) s.lastSeenAt = now
      return s
    },
    end (id) { table.delete(digest(id)) },
    endFor (usernames) {
      for (const [k, s] of table) if (s.identity.username !== undefined && usernames.has(s.identity.username)) table.delete(k)
    },
    alive (key, now = Date.now()) {
      const s = table.get(key)
      return s !== undefined && !expired(s, now)
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
