// The dashboard's sign-in: POST /auth/login (username and password, through the same login gate, checks and
// audit as HTTP Basic and MQTT logins), GET /auth/session, POST /auth/logout. A signed-in browser holds an
// HttpOnly, SameSite=Strict cookie naming a server-side session; changes also need the session's CSRF token.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { WardenError } from '@warden/common'
import type { DashboardConfig } from '../config/dashboard-schema.js'
import { accountFingerprint } from '../auth/account-fingerprint.js'
import { USERNAME_MAX } from '../policy/registration.js'
import { FieldError } from '../registry/field-error.js'
import type { Authenticator } from './basic-auth.js'
import { readJsonBody } from './body.js'
import { sendError, sendJson } from './respond.js'
import type { WebSession, WebSessions } from './web-sessions.js'

const PLAIN_COOKIE = 'warden_session'
/** the __Host- prefix: the browser keeps it only when Secure, for this host, for path / */
const SECURE_COOKIE = '__Host-warden_session'
export const CSRF_HEADER = 'x-csrf-token'
/** '1' on the dashboard's own periodic refreshes: they do not keep an unattended session from idling out */
export const BACKGROUND_HEADER = 'x-warden-background'

export interface SignInDeps {
  auth: Authenticator
  sessions: WebSessions
  config: DashboardConfig
  behindProxy: boolean
}

/** the session id the request's cookie carries, if any */
export function sessionCookie (req: IncomingMessage): string | undefined {
  const header = req.headers.cookie
  if (header === undefined) return undefined
  let found: string | undefined
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i < 0) continue
    const name = part.slice(0, i).trim()
    if (name === SECURE_COOKIE || name === PLAIN_COOKIE) found = part.slice(i + 1).trim()
  }
  return found
}

/** served over TLS: here, or (behind a proxy on this host) as the proxy says */
function overTls (req: IncomingMessage, behindProxy: boolean): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true
  return behindProxy && req.headers['x-forwarded-proto'] === 'https'
}

function cookieHeader (deps: SignInDeps, req: IncomingMessage, value: string, maxAgeS: number): string {
  const secure = deps.config.secureCookie === 'always' || overTls(req, deps.behindProxy)
  return `${secure ? SECURE_COOKIE : PLAIN_COOKIE}=${value}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

/** what the page needs to know of its session */
export function sessionView (sessions: WebSessions, s: WebSession): Record<string, unknown> {
  const id = s.identity
  return {
    username: id.username, roles: id.roles, admin: id.admin, observer: id.observer, csrf: s.csrf,
    signedInAt: new Date(s.createdAt).toISOString(), expiresAt: new Date(sessions.expiresAt(s)).toISOString()
  }
}

/** A browser's request from another site (or another port of this host, which SameSite counts as the same site). */
export function isCrossSite (req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true
  const origin = req.headers.origin
  if (origin === undefined) return false
  try {
    return new URL(origin).host !== req.headers.host
  } catch {
    return true
  }
}

function credentials (body: unknown): { username: string, password: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', '(body)', 'must be a JSON object')
  const { username, password } = body as Record<string, unknown>
  if (typeof username !== 'string' || username === '' || username.length > USERNAME_MAX) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'username', `must be a string of 1 to ${USERNAME_MAX} characters`)
  }
  // scrypt's cost grows with its input: the API's bound on passwords
  if (typeof password !== 'string' || password.length > 1024) {
    throw new FieldError('WARDEN_ERR_API_BAD_REQUEST', 'password', 'must be a string of at most 1024 characters')
  }
  return { username, password }
}

/** Answers /auth/* ; false when the path is not one of them. */
export async function handleSignIn (deps: SignInDeps, req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<boolean> {
  if (path === '/auth/login') {
    if (method !== 'POST') { sendError(res, new WardenError('WARDEN_ERR_API_METHOD', 'method not allowed here; use POST'), { allow: 'POST' }); return true }
    // a login sent by another site's page would sign the browser in to the attacker's account
    if (isCrossSite(req)) {
      sendError(res, new WardenError('WARDEN_ERR_API_FORBIDDEN', 'cross-site sign-ins are refused (Origin does not match Host)'))
      return true
    }
    const { username, password } = credentials(await readJsonBody(req))
    const outcome = await deps.auth.login(username, password, 'dashboard sign-in', req.socket.remoteAddress, () => req.socket.destroyed)
    if (!outcome.ok) {
      if (outcome.retryAfterS !== undefined) {
        const code = outcome.pending === true ? 'WARDEN_ERR_API_LOGIN_PENDING' : 'WARDEN_ERR_API_THROTTLED'
        sendError(res, new WardenError(code, outcome.detail), { 'retry-after': String(outcome.retryAfterS) })
      } else sendError(res, new WardenError('WARDEN_ERR_API_UNAUTHORIZED', outcome.detail), {}, false)
      return true
    }
    const identity = outcome.identity
    if (!identity.admin && !identity.observer) {
      sendError(res, new WardenError('WARDEN_ERR_API_FORBIDDEN', 'the dashboard needs the admin or observer role'))
      return true
    }
    // the session holds while its account stays the one just verified
    const fingerprint = outcome.account === undefined ? '' : accountFingerprint(outcome.account)
    const started = await deps.sessions.start(identity, fingerprint, req.socket.remoteAddress)
    if (!started.ok) {
      if (started.reason === 'changed') sendError(res, new WardenError('WARDEN_ERR_API_UNAUTHORIZED', started.detail), {}, false)
      else sendError(res, new WardenError('WARDEN_ERR_API_SESSIONS_FULL', started.detail), { 'retry-after': '60' })
      return true
    }
    const maxAgeS = Math.floor(deps.config.sessionMaxMs / 1000)
    sendJson(res, 200, sessionView(deps.sessions, started.session), { 'set-cookie': cookieHeader(deps, req, started.id, maxAgeS) })
    return true
  }
  if (path === '/auth/session') {
    if (method !== 'GET' && method !== 'HEAD') {
      sendError(res, new WardenError('WARDEN_ERR_API_METHOD', 'method not allowed here; use GET'), { allow: 'GET' })
      return true
    }
    const id = sessionCookie(req)
    const s = id === undefined ? undefined : await deps.sessions.touch(id, Date.now(), header(req, BACKGROUND_HEADER) === '1')
    if (s === undefined) { sendError(res, new WardenError('WARDEN_ERR_API_UNAUTHORIZED', 'not signed in'), {}, false); return true }
    sendJson(res, 200, sessionView(deps.sessions, s))
    return true
  }
  if (path === '/auth/logout') {
    if (method !== 'POST') { sendError(res, new WardenError('WARDEN_ERR_API_METHOD', 'method not allowed here; use POST'), { allow: 'POST' }); return true }
    const id = sessionCookie(req)
    const s = id === undefined ? undefined : await deps.sessions.touch(id)
    // signing a browser out is a change too: another site must not do it for the user
    if (s !== undefined && (isCrossSite(req) || !deps.sessions.checkCsrf(s, header(req, CSRF_HEADER)))) {
      sendError(res, new WardenError('WARDEN_ERR_API_CSRF', `signing out needs the session's ${CSRF_HEADER} header`))
      return true
    }
    if (id !== undefined) await deps.sessions.end(id)
    res.writeHead(204, { 'set-cookie': cookieHeader(deps, req, '', 0), 'cache-control': 'no-store' })
    res.end()
    return true
  }
  return false
}

export function header (req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}
